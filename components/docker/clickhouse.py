"""ClickHouse (`clickhouse/clickhouse-server`) with its data volume, its users, and the schema in
`clickhouse_schema/` applied by the SchemaMigrations resource.

Users are server config (`components.clients.clickhouse.users_xml`, uploaded as a `users.d` file):
the `default` user is removed, the owner runs migrations, the reader is read-only for Grafana.
Passwords reach the server only as sha256 hashes in the environment; the file holds none, and
none of the image's CLICKHOUSE_USER/PASSWORD variables is set (so its entrypoint adds no user).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from ..clients.clickhouse import OWNER_PASSWORD_ENV, READER_PASSWORD_ENV, users_xml
from ..resources.schema_migrations import SchemaMigrations
from ..spec import CLICKHOUSE_HTTP_PORT as HTTP_PORT, CLICKHOUSE_NATIVE_PORT as NATIVE_PORT
from .common import DockerPlacement, healthcheck, replace_safely

INTERNAL_HOST = "clickhouse"
USERS_FILE = "/etc/clickhouse-server/users.d/clickstreamer-users.xml"


@dataclass
class ClickHouseArgs:
    placement: DockerPlacement
    image: str  # pinned clickhouse-server image; changing it replaces the container (volume kept)
    http_port: int  # host port of the HTTP interface
    native_port: int  # host port of the native protocol (clickhouse-client); 0: not published
    database: str
    user: str  # owner: runs migrations
    password: pulumi.Input[str]  # secret
    reader_user: str  # read-only, for Grafana
    reader_password: pulumi.Input[str]  # secret
    migration_params: dict  # components/spec.py migration_params: rendered into clickhouse_schema/ files
    drop_data_on_destroy: bool  # destroy drops the database (and deletes the volume); default: both kept
    allow_data_loss: bool  # let a database rename or a lower raw-events retention through
    depends_on: tuple  # Kafka: the Kafka-engine tables consume its topics


def password_hash_environment(password: pulumi.Input[str], reader_password: pulumi.Input[str]) -> pulumi.Output:
    """The env the users file reads its password hashes from (a secret: hashes, never passwords)."""
    def sha(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()

    return pulumi.Output.secret(pulumi.Output.all(password, reader_password).apply(lambda pw: [
        f"{OWNER_PASSWORD_ENV}={sha(pw[0])}",
        f"{READER_PASSWORD_ENV}={sha(pw[1])}",
    ]))


class ClickHouse(pulumi.ComponentResource):
    container: docker.Container
    migrations: SchemaMigrations
    """Applies clickhouse_schema/; exports the applied version."""
    url: str
    """HTTP interface on the Docker host."""

    def __init__(self, name: str, args: ClickHouseArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:ClickHouse", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.placement
        self.url = p.url(args.http_port)

        image = docker.RemoteImage(f"{name}-image", name=args.image, keep_locally=True, opts=child)
        volume = p.volume(f"{name}-data", "clickhouse", child)
        self.container = p.container(
            f"{name}-server",
            alias=INTERNAL_HOST, service="clickhouse",
            image=image.image_id,
            envs=password_hash_environment(args.password, args.reader_password).apply(
                lambda hashes: ["CLICKHOUSE_WATCHDOG_ENABLE=0", *hashes]),
            uploads=[docker.ContainerUploadArgs(file=USERS_FILE,
                                                 content=users_xml(args.database, args.user, args.reader_user),
                                                 permissions="0440", owner="101", group="101")],
            ulimits=[docker.ContainerUlimitArgs(name="nofile", soft=262144, hard=262144)],
            ports=[p.publish(HTTP_PORT, args.http_port),
                   *([p.publish(NATIVE_PORT, args.native_port, "clickhouseNative")] if args.native_port else [])],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/var/lib/clickhouse")],
            healthcheck=healthcheck(f"wget --spider -q http://localhost:{HTTP_PORT}/ping",
                                    interval=5, timeout=5, retries=36, start_period=10),
            wait_timeout=240,
            opts=replace_safely(child),
        )
        self.migrations = SchemaMigrations(
            f"{name}-schema",
            url=self.url,
            username=args.user,
            password=args.password,
            database=args.database,
            params=args.migration_params,
            drop_on_destroy=args.drop_data_on_destroy,
            allow_data_loss=args.allow_data_loss,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container, *args.depends_on]),
        )
        self.register_outputs({"container": self.container, "migrations": self.migrations, "url": self.url})
