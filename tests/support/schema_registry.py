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
- `POST /subjects/{subject}` `{"schema": ...}` -> `{"subject", "id", "version", "schema"}` (404
  40401 / 40403): the lookup a serializer with `auto.register.schemas=false` makes (the collector).
- `PUT /config/{subject}` `{"compatibility": LEVEL}`, `GET /config/{subject}`: the subject's
  compatibility. Once set, registering a new version checks it against the previous (or, for
  *_TRANSITIVE, every) version and answers 409 when it fails. Unlike Confluent's (global default
  BACKWARD), a subject without a level set is not checked, so tests may store any writer schema. The check is the
  stand-in's own, covering what this project's schemas use (records, field add/remove with and
  without defaults, primitives with Avro's promotions, unions, maps, arrays); it is not Confluent's
  checker.

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
COMPATIBILITY_LEVELS = ("NONE", "BACKWARD", "FORWARD", "FULL", "BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE",
                        "FULL_TRANSITIVE")
_PROMOTIONS = {"int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
               "string": {"bytes"}, "bytes": {"string"}}


class IncompatibleSchema(ValueError):
    pass


def _type_name(schema) -> str:
    if isinstance(schema, dict):
        return schema["type"] if schema["type"] not in ("record", "enum", "fixed") else schema.get("name", "")
    return "union" if isinstance(schema, list) else schema


def read_problems(reader, writer, path: str = "") -> list[str]:
    """Why data written with `writer` cannot be read with `reader` (Avro schema resolution); empty
    when it can."""
    if isinstance(writer, list):
        return [p for branch in writer for p in read_problems(reader, branch, path)]
    if isinstance(reader, list):
        if any(not read_problems(branch, writer, path) for branch in reader):
            return []
        return [f"{path or 'the value'}: no branch of the reader's union reads the writer's {_type_name(writer)}"]
    r_kind = reader["type"] if isinstance(reader, dict) else reader
    w_kind = writer["type"] if isinstance(writer, dict) else writer
    if isinstance(r_kind, (dict, list)):
        return read_problems(r_kind, writer, path)
    if isinstance(w_kind, (dict, list)):
        return read_problems(reader, w_kind, path)
    if r_kind == "record" and w_kind == "record":
        if reader.get("name") != writer.get("name"):
            return [f"{path or 'the record'}: the reader's record {reader.get('name')} is not the writer's "
                    f"{writer.get('name')}"]
        written = {f["name"]: f for f in writer["fields"]}
        problems = []
        for field in reader["fields"]:
            at = f"{path}.{field['name']}" if path else field["name"]
            if field["name"] in written:
                problems += read_problems(field["type"], written[field["name"]]["type"], at)
            elif "default" not in field:
                problems.append(f"{at}: the reader's field has no default and the writer does not write it")
        return problems
    if r_kind == "map" and w_kind == "map":
        return read_problems(reader["values"], writer["values"], f"{path}{{}}")
    if r_kind == "array" and w_kind == "array":
        return read_problems(reader["items"], writer["items"], f"{path}[]")
    if r_kind == w_kind and r_kind not in ("record", "map", "array", "enum", "fixed"):
        return []
    if w_kind in _PROMOTIONS and r_kind in _PROMOTIONS[w_kind]:
        return []
    if r_kind == w_kind and reader == writer:
        return []
    return [f"{path or 'the value'}: the writer's {w_kind} cannot be read as {r_kind}"]


def compatibility_problems(level: str, new: str, olds: list[str]) -> list[str]:
    """What breaks `level` between schema `new` and the earlier versions `olds` (oldest first)."""
    if level == "NONE" or not olds:
        return []
    against = olds if level.endswith("_TRANSITIVE") else olds[-1:]
    base = level.removesuffix("_TRANSITIVE")
    new_schema = json.loads(new)
    problems = []
    for old in against:
        old_schema = json.loads(old)
        if base in ("BACKWARD", "FULL"):
            problems += [f"new reading old: {p}" for p in read_problems(new_schema, old_schema)]
        if base in ("FORWARD", "FULL"):
            problems += [f"old reading new: {p}" for p in read_problems(old_schema, new_schema)]
    return problems


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
        self._compatibility: dict[str, str] = {}  # subject -> level, when set
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
        """Register `schema` under `subject` (as a serializer would) and return its global id.
        Raises `IncompatibleSchema` when the subject's compatibility refuses it."""
        key = _canonical(schema)
        with self._lock:
            versions = self._subjects.get(subject, [])
            if self._ids.get(key) not in versions:
                problems = compatibility_problems(self._compatibility.get(subject, "NONE"), schema,
                                                  [self._schemas[v] for v in versions])
                if problems:
                    raise IncompatibleSchema("; ".join(problems))
            schema_id = self._ids.get(key)
            if schema_id is None:
                schema_id = len(self._schemas) + 1
                self._ids[key] = schema_id
                self._schemas[schema_id] = schema
            versions = self._subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id

    def lookup(self, subject: str, schema: str) -> Optional[dict]:
        """The version of `schema` under `subject`, or None."""
        with self._lock:
            schema_id = self._ids.get(_canonical(schema))
            versions = self._subjects.get(subject, [])
            if schema_id is None or schema_id not in versions:
                return None
            return {"subject": subject, "id": schema_id, "version": versions.index(schema_id) + 1,
                    "schema": self._schemas[schema_id]}

    def set_compatibility(self, subject: str, level: str) -> None:
        if level not in COMPATIBILITY_LEVELS:
            raise ValueError(level)
        with self._lock:
            self._compatibility[subject] = level

    def compatibility(self, subject: str) -> Optional[str]:
        with self._lock:
            return self._compatibility.get(subject)

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
        if match := re.fullmatch(r"/config/([^/]+)", path):
            level = self.registry.compatibility(match.group(1))
            if level is None:
                return self._not_found(40408, "Subject does not have subject-level compatibility configured")
            return self._send(200, {"compatibilityLevel": level})
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
            except IncompatibleSchema as exc:
                return self._send(409, {"error_code": 409, "message": "Schema being registered is incompatible "
                                                                      f"with an earlier schema: {exc}"})
            except ValueError:
                return self._send(422, {"error_code": 42201, "message": "Invalid schema"})
            return self._send(200, {"id": schema_id})
        if match := re.fullmatch(r"/subjects/([^/]+)", path):
            subject = match.group(1)
            if subject not in self.registry.subjects():
                return self._not_found(40401, f"Subject '{subject}' not found.")
            try:
                found = self.registry.lookup(subject, body.get("schema", ""))
            except ValueError:
                return self._send(422, {"error_code": 42201, "message": "Invalid schema"})
            if found is None:
                return self._not_found(40403, "Schema not found")
            return self._send(200, found)
        self._not_found(404, f"no such endpoint in the test registry: POST {path}")

    def do_PUT(self) -> None:
        path = self.path.split("?", 1)[0]
        self.registry.requests[f"PUT {path}"] += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if match := re.fullmatch(r"/config/([^/]+)", path):
            level = str(body.get("compatibility", "")).upper()
            if level not in COMPATIBILITY_LEVELS:
                return self._send(422, {"error_code": 42203, "message": f"Invalid compatibility level {level}"})
            self.registry.set_compatibility(match.group(1), level)
            return self._send(200, {"compatibility": level})
        self._not_found(404, f"no such endpoint in the test registry: PUT {path}")
