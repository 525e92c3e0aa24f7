"""Clickstreamer: the clickstream pipeline as one Pulumi graph. Reads and validates the stack
config (nothing is created when it is invalid), builds the pipeline for the configured platform,
and exports every URL."""
import pulumi

from components.config import ConfigError, load_config
from components.secrets import PipelineSecrets


def main() -> None:
    try:
        cfg = load_config()
    except ConfigError as err:
        # One error listing every bad key; raised before any resource is registered.
        raise pulumi.RunError(str(err)) from err

    config = pulumi.Config("clickstreamer")
    secrets = PipelineSecrets(
        clickhouse_password=config.get_secret("clickhousePassword"),
        clickhouse_reader_password=config.get_secret("clickhouseReaderPassword"),
        grafana_admin_password=config.get_secret("grafanaAdminPassword"),
    )
    # Each platform is imported only when chosen: one never loads the other's provider SDK.
    if cfg.platform == "kubernetes":
        from components.k8s.pipeline import KubernetesPipeline

        pipeline = KubernetesPipeline("clickstream", cfg, secrets)
    else:
        from components.docker.pipeline import ClickstreamPipeline

        pipeline = ClickstreamPipeline("clickstream", cfg, secrets)
    for key, value in pipeline.outputs.items():
        pulumi.export(key, value)


main()
