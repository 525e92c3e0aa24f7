"""The Docker platform: the pipeline of components/spec.py as containers on one Docker host
(pulumi-docker). Never imports components/k8s/."""
