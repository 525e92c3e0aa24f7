"""The Kubernetes platform (`platform: kubernetes`): the pipeline of components/pipeline.py on a
cluster, on operators installed from their Helm charts. See components/k8s/pipeline.py and
docs/kubernetes.md."""
