"""Pulumi's own dynamic-provider host, driven over gRPC the way the Pulumi engine drives it.

`python -m pulumi.dynamic` is the process `pulumi-resource-pulumi-python` runs: it prints a port,
serves the ResourceProvider gRPC API, and for each call base64-decodes + dill-loads the provider
found in the `__provider` property. Driving it proves a provider survives Pulumi's serialization
(`serialize_provider`, dill) and Pulumi's property marshalling (numbers as doubles, unknowns,
secrets), in a fresh process whose working directory is the project root and whose `sys.path` has
nothing but what Pulumi gives it (pulumi/pulumi#7453 is the trap for providers defined outside
`__main__`).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any, Optional

import grpc
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


def _struct(props: dict[str, Any]):
    return asyncio.run(rpc.serialize_properties(props, {}))


def _plain(struct, keep_unknowns: bool = False) -> dict[str, Any]:
    return rpc.deserialize_properties(struct, keep_unknowns)


class ProviderHost:
    """One `python -m pulumi.dynamic` process serving one serialized provider."""

    def __init__(self, provider, type_token: str, name: str = "under-test") -> None:
        self.serialized = serialize_provider(provider)
        self.urn = f"urn:pulumi:test::clickstreamer::{type_token}::{name}"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.process = subprocess.Popen([str(PYTHON), "-u", "-m", "pulumi.dynamic"], cwd=REPO_ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.process.kill()
            raise RuntimeError(f"provider host did not start: {line!r} {self.process.stderr.read()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        # The engine configures every provider first. A dynamic provider answers acceptSecrets=False,
        # so the engine sends secret values to it in plain and marks the same-named outputs secret
        # again on the way back; that is why this harness sends plain values only.
        configured = self.stub.Configure(provider_pb2.ConfigureRequest(args=_struct({})))
        assert configured.acceptSecrets is False

    def _with_provider(self, props: dict[str, Any]) -> dict[str, Any]:
        return {**props, "__provider": self.serialized}

    def check(self, olds: dict, news: dict) -> tuple[dict, list[tuple[str, str]]]:
        r = self.stub.Check(provider_pb2.CheckRequest(urn=self.urn, olds=_struct(self._with_provider(olds) if olds else {}),
                                                      news=_struct(self._with_provider(news))))
        return _plain(r.inputs), [(f.property, f.reason) for f in r.failures]

    def diff(self, id_: str, olds: dict, news: dict) -> provider_pb2.DiffResponse:
        return self.stub.Diff(provider_pb2.DiffRequest(id=id_, urn=self.urn, olds=_struct(self._with_provider(olds)),
                                                       news=_struct(self._with_provider(news))))

    def create(self, props: dict, timeout: float = 300) -> tuple[str, dict]:
        r = self.stub.Create(provider_pb2.CreateRequest(urn=self.urn, properties=_struct(self._with_provider(props))),
                             timeout=timeout)
        return r.id, _plain(r.properties)

    def read(self, id_: str, props: dict) -> tuple[str, dict]:
        r = self.stub.Read(provider_pb2.ReadRequest(id=id_, urn=self.urn, properties=_struct(self._with_provider(props))))
        return r.id, _plain(r.properties)

    def update(self, id_: str, olds: dict, news: dict, timeout: float = 300) -> dict:
        r = self.stub.Update(provider_pb2.UpdateRequest(id=id_, urn=self.urn, olds=_struct(self._with_provider(olds)),
                                                        news=_struct(self._with_provider(news))), timeout=timeout)
        return _plain(r.properties)

    def delete(self, id_: str, props: dict, timeout: float = 300) -> None:
        self.stub.Delete(provider_pb2.DeleteRequest(id=id_, urn=self.urn, properties=_struct(self._with_provider(props))),
                         timeout=timeout)

    def close(self) -> str:
        """Stop the host; return what it printed on stderr (the providers' notes)."""
        self.channel.close()
        self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err

    def __enter__(self) -> "ProviderHost":
        return self

    def __exit__(self, *exc: Optional[BaseException]) -> None:
        self.close()


def without_provider(props: dict) -> dict:
    return {k: v for k, v in props.items() if k != "__provider"}
