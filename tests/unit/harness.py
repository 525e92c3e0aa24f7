"""Run the real Pulumi program (`__main__.py`) under Pulumi's mocks and record what it registers.

`build_program(config)` returns a `Recording`: every resource with its type, name, inputs (as
the engine would receive them), parent, dependencies and whether it asked for delete-before-
replace, plus the stack outputs. Mocked outputs use the wire (camelCase) names and look like what
the real providers return, so code that reads them (image ids, volume names) behaves as in `up`.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET_SIG = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
SECRET_VALUE = rpc._special_secret_sig


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    inputs: dict
    raw_inputs: Any  # the protobuf struct as JSON, secret wrappers intact
    parent: str
    dependencies: list[str]
    delete_before_replace: bool
    custom: bool
    additional_secret_outputs: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)

    def revealed(self, key: str) -> Any:
        """Input `key` with secret wrappers removed (to read what a secret holds)."""
        return _reveal(self.raw_inputs.get(key))

    def secret_paths(self) -> list[str]:
        return list(_secret_paths(self.raw_inputs, ""))


def _reveal(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return _reveal(value.get("value"))
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _secret_paths(value: Any, path: str):
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            yield path
            return
        for key, item in value.items():
            yield from _secret_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_paths(item, f"{path}[{index}]")


def plain_strings(value: Any):
    """Every string in a raw struct that is not inside a secret wrapper."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return
        for item in value.values():
            yield from plain_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from plain_strings(item)
    elif isinstance(value, str):
        yield value


@dataclass
class Recording:
    resources: list[Registered] = field(default_factory=list)
    stack_outputs: dict = field(default_factory=dict)  # export name -> resolved value
    secret_outputs: set = field(default_factory=set)  # export names whose value is secret

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        assert found, f"no resource named {name!r}; have: {sorted(r.name for r in self.resources)}"
        assert len(found) == 1, f"{len(found)} resources named {name!r}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def depends_on(self, name: str, other: str) -> bool:
        """True when `name` waits for `other`: directly, or through a dependency or parent chain."""
        target = self.named(other).urn
        seen: set[str] = set()
        todo = list(self.named(name).dependencies)
        while todo:
            urn = todo.pop()
            if urn == target:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            found = [r for r in self.resources if r.urn == urn]
            if found:
                todo.extend(found[0].dependencies)
        return False


def _fake_id(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("/".join(parts).encode()).hexdigest()


def pulled_image_id(image: str) -> str:
    """The id the mocks give a RemoteImage of `image`."""
    return _fake_id("image", image)


def built_image_id(resource_name: str) -> str:
    """The id the mocks give the Image resource `resource_name`."""
    return _fake_id("build", resource_name)


def generated_password(name: str) -> str:
    return f"generated-{hashlib.sha1(name.encode()).hexdigest()[:16]}"


# What the live objects of the Kubernetes platform report once their operators are done.
LOAD_BALANCER_IP = "203.0.113.10"  # TEST-NET-3: documentation address
FLINK_JOB_ID = "5c6f1a2b3d4e5f60718293a4b5c6d7e8"
FLINK_SAVEPOINT = "file:///opt/flink/data/savepoints/savepoint-5c6f1a-0123456789ab"


def _kubernetes_outputs(type_: str, name: str, outputs: dict) -> None:
    """pulumi-kubernetes returns the live object: auto-named objects get a suffixed name, and the
    status the operators (or Kubernetes) write once the object is ready."""
    metadata = dict(outputs.get("metadata") or {})
    if not metadata.get("name") and type_ != "kubernetes:helm.sh/v3:Release":
        metadata["name"] = f"{name}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
        outputs["metadata"] = metadata
    kind = type_.rsplit(":", 1)[-1]
    if type_ == "kubernetes:core/v1:Service" and (outputs.get("spec") or {}).get("type") == "LoadBalancer":
        outputs["status"] = {"loadBalancer": {"ingress": [{"ip": LOAD_BALANCER_IP}]}}
    elif kind == "FlinkDeployment":
        outputs["status"] = {"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY",
                             "jobStatus": {"jobId": FLINK_JOB_ID, "state": "RUNNING",
                                           "upgradeSavepointPath": FLINK_SAVEPOINT}}
    elif kind == "ClickHouseInstallation":
        outputs["status"] = {"status": "Completed"}
    elif type_.startswith("kubernetes:kafka.strimzi.io/"):
        outputs["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}


class RealisticMocks(pulumi.runtime.Mocks):
    """Outputs shaped like the real providers' (wire names), derived from the inputs."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        t = args.typ
        if t == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = pulled_image_id(args.inputs["name"])
            outputs["repoDigest"] = args.inputs["name"]
        elif t == "docker:index/image:Image":
            outputs["repoDigest"] = built_image_id(args.name)
            outputs["imageName"] = args.inputs.get("imageName")
        elif t in ("docker:index/network:Network", "docker:index/volume:Volume"):
            outputs["name"] = f"{args.name}-{hashlib.sha1(args.name.encode()).hexdigest()[:7]}"
        elif t == "docker:index/container:Container":
            outputs["name"] = f"{args.name}-{hashlib.sha1(args.name.encode()).hexdigest()[:7]}"
            outputs["exitCode"] = None
        elif t == "random:index/randomPassword:RandomPassword":
            outputs["result"] = generated_password(args.name)
        elif t.startswith("pulumi-python:dynamic"):
            outputs.setdefault("job_id", "0" * 32)
            outputs.setdefault("version", "000")
            outputs.setdefault("last_savepoint", "")
            outputs.setdefault("state", "RUNNING")
        elif t.startswith("kubernetes:"):
            _kubernetes_outputs(t, args.name, outputs)
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, recording: Recording) -> None:
        super().__init__(mocks)
        self.recording = recording

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.recording.resources.append(Registered(
                type=request.type,
                name=request.name,
                urn=response.urn,
                inputs=rpc.deserialize_properties(request.object),
                raw_inputs=json_format.MessageToDict(request.object),
                parent=request.parent,
                dependencies=list(request.dependencies),
                delete_before_replace=request.deleteBeforeReplace,
                custom=request.custom,
                additional_secret_outputs=list(request.additionalSecretOutputs),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=list(request.ignoreChanges),
            ))
        return response


def record(build: Callable[[], None], recording: Optional[Recording] = None,
           mocks: Optional[pulumi.runtime.Mocks] = None) -> Recording:
    """Run `build` (code that registers resources) under mocks; return what it registered."""
    recording = recording if recording is not None else Recording()
    mocks = mocks or RealisticMocks()

    @pulumi.runtime.test
    def run():
        build()
        return pulumi.Output.from_input(True)

    # A fresh root stack per build, so exports of an earlier build do not leak into this one.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="clickstreamer", stack="unit", preview=False,
                             monitor=RecordingMonitor(mocks, recording))
    run()
    return recording


def build_program(config: Optional[dict] = None, secrets: Optional[dict] = None,
                  recording: Optional[Recording] = None) -> Recording:
    """Run `__main__.py` with `clickstreamer:<key>` config (and secret config) under mocks.

    Raises what the program raises (e.g. a config error); pass `recording` to inspect what was
    registered before that.
    """
    recording = recording if recording is not None else Recording()
    mocks = RealisticMocks()
    values = {f"clickstreamer:{k}": (json.dumps(v) if isinstance(v, (dict, list)) else v)
              for k, v in (config or {}).items()}
    values.update({f"clickstreamer:{k}": v for k, v in (secrets or {}).items()})
    pulumi.runtime.set_all_config(values, [f"clickstreamer:{k}" for k in (secrets or {})])

    @pulumi.runtime.test
    def run():
        runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")
        exports = dict(pulumi.runtime.get_root_resource().outputs)

        async def record():
            for key, value in exports.items():
                output = pulumi.Output.from_input(value)
                if await output._is_secret:
                    recording.secret_outputs.add(key)
                recording.stack_outputs[key] = await output.future()

        return asyncio.ensure_future(record())

    # A fresh root stack per build, so exports of an earlier build do not leak into this one.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="clickstreamer", stack="unit", preview=False,
                             monitor=RecordingMonitor(mocks, recording))
    run()
    return recording
