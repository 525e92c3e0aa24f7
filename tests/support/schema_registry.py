"""A TEST STAND-IN for Confluent Schema Registry: a small HTTP server implementing exactly the REST
calls this project's tests need, on 127.0.0.1. It is not Confluent's software.

Why a stand-in: Confluent's Schema Registry is not on any registry this machine reaches, and the
closest real alternative, Apicurio Registry's Confluent-compatible API, cannot be assembled from
Maven Central (its app depends on io.confluent artifacts served only by Confluent's repository).

The calls, with Confluent's request/response shapes (docs: "Schema Registry API Reference"):

- `POST /subjects/{subject}/versions` `{"schema": "<avro json>"}` -> `{"id": N}`: what a producer's
  Avro serializer (and Kafka Connect's AvroConverter, i.e. datagen) calls to register a value
  schema; registering the same schema again returns the same id, as Confluent does.
- `GET /schemas/ids/{id}` -> `{"schema": "<avro json>"}` (404 `{"error_code": 40403, ...}` when
  unknown): the one call the job's decoder (`flink_job/udf`, DecodePageviews) makes, and the one
  Flink's own `avro-confluent` format makes to read a record; query parameters are ignored.
- `GET /subjects`, `GET /subjects/{subject}/versions/latest`: for tests to look at what is stored.

`requests` counts the calls per path so tests can assert the decoder caches schemas. Stdlib only.

    with SchemaRegistryTestServer.start() as registry:
        schema_id = registry.register("pageviews-value", PAGEVIEWS_SCHEMA)
        registry.url  # http://127.0.0.1:<port>
"""
from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _canonical(schema: str) -> str:
    return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))


class SchemaRegistryTestServer:
    """In-memory registry served from a daemon thread; `stop()` (or the context manager) ends it."""

    def __init__(self, server: ThreadingHTTPServer):
        self._server = server
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}  # canonical schema -> id
        self._schemas: dict[int, str] = {}  # id -> schema as registered
        self._subjects: dict[str, list[int]] = {}  # subject -> ids, one per version
        self.requests: Counter = Counter()
        self._thread = threading.Thread(target=server.serve_forever, name="schema-registry-test-server",
                                        daemon=True)

    @classmethod
    def start(cls) -> "SchemaRegistryTestServer":
        handler = type("Handler", (_Handler,), {})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        registry = cls(server)
        handler.registry = registry
        registry._thread.start()
        return registry

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def register(self, subject: str, schema: str) -> int:
        """Register `schema` under `subject` (as a serializer would) and return its global id."""
        key = _canonical(schema)
        with self._lock:
            schema_id = self._ids.get(key)
            if schema_id is None:
                schema_id = len(self._schemas) + 1
                self._ids[key] = schema_id
                self._schemas[schema_id] = schema
            versions = self._subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id

    def schema(self, schema_id: int) -> Optional[str]:
        with self._lock:
            return self._schemas.get(schema_id)

    def latest(self, subject: str) -> Optional[dict]:
        with self._lock:
            versions = self._subjects.get(subject)
            if not versions:
                return None
            return {"subject": subject, "version": len(versions), "id": versions[-1],
                    "schema": self._schemas[versions[-1]]}

    def subjects(self) -> list[str]:
        with self._lock:
            return sorted(self._subjects)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "SchemaRegistryTestServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    registry: SchemaRegistryTestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", _CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, code: int, message: str) -> None:
        self._send(404, {"error_code": code, "message": message})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.registry.requests[f"GET {re.sub(r'/[0-9]+$', '/{id}', path)}"] += 1
        if match := re.fullmatch(r"/schemas/ids/([0-9]+)", path):
            schema = self.registry.schema(int(match.group(1)))
            if schema is None:
                return self._not_found(40403, "Schema not found")
            return self._send(200, {"schema": schema})
        if path == "/subjects":
            return self._send(200, self.registry.subjects())
        if match := re.fullmatch(r"/subjects/([^/]+)/versions/latest", path):
            latest = self.registry.latest(match.group(1))
            if latest is None:
                return self._not_found(40401, "Subject not found")
            return self._send(200, latest)
        self._not_found(404, f"no such endpoint in the test registry: GET {path}")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        self.registry.requests[f"POST {path}"] += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if match := re.fullmatch(r"/subjects/([^/]+)/versions", path):
            if body.get("schemaType", "AVRO") != "AVRO" or "schema" not in body:
                return self._send(422, {"error_code": 42201, "message": "Invalid schema"})
            try:
                schema_id = self.registry.register(match.group(1), body["schema"])
            except ValueError:
                return self._send(422, {"error_code": 42201, "message": "Invalid schema"})
            return self._send(200, {"id": schema_id})
        self._not_found(404, f"no such endpoint in the test registry: POST {path}")
