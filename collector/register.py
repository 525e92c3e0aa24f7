"""`python -m collector.register <registry-url> <subject>`: set the subject's compatibility to
FULL_TRANSITIVE and register pageviews v2; idempotent. The stack's step where it cannot reach the
registry itself (on Kubernetes it runs as the collector pod's init container); on Docker the
`PageviewsSchema` resource does the same from `pulumi up`. The collector never registers."""
from __future__ import annotations

import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from .schemas import COMPATIBILITY, schema_text


def register(url: str, subject: str) -> int:
    client = SchemaRegistryClient({"url": url})
    client.set_compatibility(subject, COMPATIBILITY)
    return client.register_schema(subject, Schema(schema_text(), "AVRO"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python -m collector.register <schema-registry-url> <subject>", file=sys.stderr)
        sys.exit(2)
    print(f"registered {sys.argv[2]}: schema id {register(sys.argv[1], sys.argv[2])}")
