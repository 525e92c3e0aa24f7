"""Clickstreamer's Pulumi components.

Shared by both platforms (platform-neutral): `config` (the stack config), `spec` (the pipeline as
plain data), `contract` (the topics between the job and ClickHouse), `secrets`, `errors`,
`clients/` (runtime clients: Kafka admin, Connect, Flink, ClickHouse) and `resources/` (the
dynamic resources over them). Each platform renders the spec its own way: `docker/` on one Docker
host, `k8s/` on a Kubernetes cluster; neither imports the other.
"""
