"""A stand-in for the part of Grafana 11.1's HTTP API the stack calls after start (no Grafana
server is obtainable here): sign-in by basic auth on `GET /api/user`, and the self-service password
change `PUT /api/user/password`, answering as Grafana's `ChangeUserPassword` handler does
(pkg/api/user.go: 401 "Invalid old password", 400 when the new one is too short, 200 "User
password changed"). It records every request, so tests assert the exact exchange. Stdlib only.
"""
from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Exchange:
    method: str
    path: str
    user: str
    password: str
    body: object
    status: int


@dataclass
class GrafanaStandIn:
    passwords: dict[str, str]
    exchanges: list[Exchange] = field(default_factory=list)
    server: ThreadingHTTPServer = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @classmethod
    def start(cls, passwords: dict[str, str]) -> "GrafanaStandIn":
        stand_in = cls(dict(passwords))

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: dict, user: str, password: str, request_body: object) -> None:
                stand_in.exchanges.append(Exchange(self.command, self.path, user, password, request_body, status))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _credentials(self) -> tuple[str, str]:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return "", ""
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return user, password

            def _signed_in(self, user: str, password: str) -> bool:
                return stand_in.passwords.get(user) == password

            def do_GET(self):
                user, password = self._credentials()
                if self.path == "/api/user":
                    if self._signed_in(user, password):
                        return self._answer(200, {"id": 1, "login": user, "isGrafanaAdmin": True}, user, password, None)
                    return self._answer(401, {"message": "Invalid username or password"}, user, password, None)
                self._answer(404, {"message": "Not found"}, user, password, None)

            def do_PUT(self):
                user, password = self._credentials()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
                if self.path != "/api/user/password":
                    return self._answer(404, {"message": "Not found"}, user, password, body)
                if not self._signed_in(user, password):
                    return self._answer(401, {"message": "Invalid username or password"}, user, password, body)
                if body.get("oldPassword") != stand_in.passwords[user]:
                    return self._answer(401, {"message": "Invalid old password"}, user, password, body)
                if len(body.get("newPassword") or "") < 4:
                    return self._answer(400, {"message": "New password is too short"}, user, password, body)
                stand_in.passwords[user] = body["newPassword"]
                self._answer(200, {"message": "User password changed"}, user, password, body)

        stand_in.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=stand_in.server.serve_forever, daemon=True).start()
        return stand_in

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
