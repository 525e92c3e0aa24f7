"""A typed client for the Schema Registry REST calls the stack makes (Confluent Schema Registry 7.4
API): a subject's compatibility level, registering a schema version, looking one up.

- `PUT /config/{subject}` `{"compatibility": LEVEL}`; `GET /config/{subject}` answers 404 (40408)
  while the subject has no level of its own.
- `POST /subjects/{subject}/versions` registers, or returns the id of the same schema already
  there; 409 when the subject's compatibility refuses it, 422 for an invalid schema.
- `POST /subjects/{subject}` looks a schema up: 404 (40401 subject, 40403 schema) when absent.

No Pulumi import here: the dynamic provider in components/resources/schema.py adapts this.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote

from ..errors import RequestRejected
from ._http import HttpService, RetryPolicy

SERVICE = "Schema Registry"
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
COMPATIBILITY_LEVELS = ("NONE", "BACKWARD", "FORWARD", "FULL", "BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE",
                        "FULL_TRANSITIVE")


@dataclass(frozen=True)
class RegisteredVersion:
    subject: str
    id: int
    version: int


class SchemaRegistryClient:
    def __init__(self, url: str, retry: RetryPolicy = RetryPolicy(deadline=120, request_timeout=15)) -> None:
        self.http = HttpService(SERVICE, url, retry,
                                unreachable_hint="is the Schema Registry running and reachable from where pulumi runs?")

    def _path(self, *parts: str) -> str:
        return "/" + "/".join(quote(p, safe="") if i % 2 else p for i, p in enumerate(parts))

    def compatibility(self, subject: str) -> Optional[str]:
        """The subject's own level, or None when it has none (the registry's global level applies)."""
        response = self.http.call("GET", f"/config/{quote(subject, safe='')}", ok=(200, 404),
                                  what=f"reading the compatibility of {subject}")
        if response.status_code == 404:
            return None
        return response.json().get("compatibilityLevel")

    def set_compatibility(self, subject: str, level: str) -> None:
        if level not in COMPATIBILITY_LEVELS:
            raise ValueError(f"compatibility {level!r}: allowed: {', '.join(COMPATIBILITY_LEVELS)}")
        self.http.call("PUT", f"/config/{quote(subject, safe='')}", json={"compatibility": level},
                       headers={"Content-Type": CONTENT_TYPE}, what=f"setting {subject} to {level}")

    def register(self, subject: str, schema: str) -> RegisteredVersion:
        """Register `schema` (Avro JSON text) under `subject`; the same schema again is a no-op.
        Raises `RequestRejected` (status 409) when the subject's compatibility refuses it."""
        self.http.call("POST", f"/subjects/{quote(subject, safe='')}/versions", json={"schema": schema},
                       headers={"Content-Type": CONTENT_TYPE}, what=f"registering a version of {subject}")
        found = self.lookup(subject, schema)
        if found is None:
            raise RequestRejected(f"{SERVICE} registered a version of {subject} but cannot find it",
                                  service=SERVICE, subject=subject)
        return found

    def lookup(self, subject: str, schema: str) -> Optional[RegisteredVersion]:
        response = self.http.call("POST", f"/subjects/{quote(subject, safe='')}", json={"schema": schema},
                                  headers={"Content-Type": CONTENT_TYPE}, ok=(200, 404),
                                  what=f"looking up a schema under {subject}")
        if response.status_code == 404:
            return None
        body = response.json()
        return RegisteredVersion(subject=body.get("subject", subject), id=int(body["id"]), version=int(body["version"]))
