"""`FlinkJob`: a PyFlink job on a Flink session cluster as a Pulumi dynamic resource, over
components/clients/flink_rest.py.

- create: submit the job (REST, PythonDriver entry class) and wait until every task of every vertex
  RUNS; a job that cannot start is cancelled and the root cause from Flink is reported. The job owns
  its parallelism (its `--parallelism` argument): nothing here sets or expects one.
- update: a change of job code (`code_hash`), job arguments (the job's parallelism among them) or
  Flink config stops the job with a savepoint and resubmits it from that savepoint, so its state
  carries over. Other input changes are only recorded. A job that is gone (the cluster restarted) or
  stopped is resubmitted from the newest savepoint known: an `initial_savepoint` given in this update,
  else the one Flink still reports for the stopped job, else the last one this resource recorded. A
  job that is restarting (failing) cannot take a savepoint: the update is refused with its failure
  and latest retained checkpoint, and the job is left as it is.
- read (refresh): the live state; a job the cluster no longer knows shows as `MISSING` and stays in
  the state, so the next `up` can resubmit it from its last savepoint.
- delete: stop with a savepoint (kept; its path is logged) or cancel, per `on_destroy`.

The resource id is stable across upgrades; the running job's id is the `job_id` output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from components.resources import _dynamic as dyn

WAIT_TIMEOUT = 180.0  # seconds to wait for RUNNING, for a savepoint, or for a cancel
REQUEST_DEADLINE = 60.0  # at most this long retrying one request to an unreachable JobManager
CANCEL_TIMEOUT = 30.0  # undoing a submission that did not start
ON_DESTROY = ("savepoint", "cancel")
# A change of any of these needs the job stopped with a savepoint and submitted again.
RESTART_INPUTS = ("job_path", "args", "code_hash", "flink_config")
# A change of any of these is recorded; the running job is left alone.
RECORD_INPUTS = ("rest_url", "savepoint_dir", "on_destroy", "initial_savepoint", "allow_non_restored_state", "wait_timeout")
_ALIVE = ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING", "RECONCILING", "FAILING")


def job_path(value: Any) -> str:
    if not (isinstance(value, str) and value.startswith("/") and value.endswith(".py")):
        raise dyn.Invalid(f"{value!r}: must be the absolute path of a .py file inside the JobManager")
    return value


def savepoint_uri(value: Any) -> str:
    """A savepoint (or savepoint directory) URI with a scheme; "" stands for none."""
    if value != "" and not (isinstance(value, str) and ("://" in value or value.startswith("file:/"))):
        raise dyn.Invalid(f"{value!r}: must be a URI with a scheme, e.g. file:///opt/flink/savepoints")
    return value


@dataclass(frozen=True)
class FlinkJobInputs:
    """A `FlinkJob`'s props, typed (see components/resources/_dynamic.py for how they are read).
    In `check` and `diff` a field may still be unknown (preview)."""

    rest_url: str
    job_path: str
    savepoint_dir: str
    args: list[str] = field(default_factory=list)
    code_hash: str = ""
    on_destroy: str = "savepoint"
    initial_savepoint: Optional[str] = None
    allow_non_restored_state: bool = False
    flink_config: Optional[dict[str, str]] = None
    wait_timeout: float = WAIT_TIMEOUT

    @classmethod
    def parse(cls, props: Mapping[str, Any]) -> tuple["FlinkJobInputs", list]:
        p = dyn.Props(props)
        inputs = cls(
            rest_url=p.get("rest_url", dyn.http_url("the Flink REST API", "http://127.0.0.1:8081")),
            job_path=p.get("job_path", job_path),
            savepoint_dir=p.get("savepoint_dir", savepoint_uri),
            args=p.get("args", dyn.string_list("program arguments"), []),
            code_hash=p.get("code_hash", dyn.text, ""),
            on_destroy=p.get("on_destroy", dyn.one_of(*ON_DESTROY), "savepoint"),
            initial_savepoint=p.get("initial_savepoint", savepoint_uri),
            allow_non_restored_state=p.get("allow_non_restored_state", dyn.boolean, False),
            flink_config=p.get("flink_config", dyn.config_map("Flink config keys")) or None,
            wait_timeout=p.get("wait_timeout", dyn.seconds, WAIT_TIMEOUT),
        )
        if not inputs.savepoint_dir:
            p.fail("savepoint_dir", "is required: a directory URI shared by JobManager and TaskManagers (file:///…)")
        if not dyn.unknown(inputs.args) and isinstance(inputs.args, list):
            p.refuse_secrets("args", [a for a in inputs.args if a.startswith("-")],
                             "job arguments are stored in the state and shown in the Flink UI")
        p.refuse_secrets("flink_config", inputs.flink_config, "it would be stored in the state")
        return inputs, p.failures

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "FlinkJobInputs":
        return cls.parse(props)[0]

    def client(self, retry=None):
        from components.clients._http import RetryPolicy
        from components.clients.flink_rest import FlinkClient

        return FlinkClient(self.rest_url, retry or RetryPolicy(deadline=min(self.wait_timeout, REQUEST_DEADLINE)))

    def changed(self, other: "FlinkJobInputs", keys: Sequence[str]) -> list[str]:
        """The inputs among `keys` that differ from `other`'s (empty and absent are the same)."""
        return [k for k in keys if (getattr(self, k) or None) != (getattr(other, k) or None)]


@dataclass(frozen=True)
class RecordedJob:
    """What the resource's outputs recorded of the job it runs."""

    job_id: Optional[str]
    state: str
    last_savepoint: Optional[str]
    restored_from: Optional[str]

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "RecordedJob":
        return cls(props.get("job_id") or None, props.get("state") or "", props.get("last_savepoint") or None,
                   props.get("restored_from") or None)


class FlinkJobProvider(ResourceProvider):
    """The provider: a thin adapter over components/clients/flink_rest.py."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        from components.clients._http import RetryPolicy
        from components.errors import ClickstreamerError

        inputs, failures = FlinkJobInputs.parse(news)
        checked = {**news, **dyn.as_props(inputs)}
        if not failures and dyn.known(inputs.rest_url):
            try:
                inputs.client(RetryPolicy(deadline=0, request_timeout=3)).overview()
            except ClickstreamerError:
                dyn.note(f"Flink at {inputs.rest_url} is not reachable yet: the job will be checked when it is submitted")
        return CheckResult(checked, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        from components.clients._http import RetryPolicy
        from components.errors import ClickstreamerError

        old, new, recorded = FlinkJobInputs.from_props(olds), FlinkJobInputs.from_props(news), RecordedJob.from_props(olds)
        if new.changed(old, (*RESTART_INPUTS, *RECORD_INPUTS)) or any(dyn.unknown(getattr(new, k)) for k in RESTART_INPUTS):
            return DiffResult(changes=True, replaces=[])
        if recorded.state != "RUNNING":  # a refresh found it stopped, failed or gone
            return DiffResult(changes=True, replaces=[])
        # Truth over records: a job stopped or lost since the last `up` (cluster restart) needs resubmitting.
        job_id = recorded.job_id
        if dyn.known(new.rest_url) and job_id:
            try:
                live = new.client(RetryPolicy(deadline=0, request_timeout=3)).job(job_id)
            except ClickstreamerError:
                live = False  # unreachable now: nothing to learn
            if live is None or (live and live.state != "RUNNING"):
                dyn.note(f"Flink job {job_id} is {'gone from the cluster' if live is None else live.state}: it will be "
                         f"submitted again from its last savepoint")
                return DiffResult(changes=True, replaces=[])
        return DiffResult(changes=False, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        import uuid

        inputs = FlinkJobInputs.from_props(props)
        savepoint = inputs.initial_savepoint or None
        job_id = _start(inputs.client(), inputs, savepoint)
        return CreateResult(f"flinkjob-{uuid.uuid4().hex[:16]}", _outputs(props, job_id, "RUNNING", savepoint, savepoint))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs, recorded = FlinkJobInputs.from_props(props), RecordedJob.from_props(props)
        client, job_id = inputs.client(), recorded.job_id
        live = client.job(job_id) if job_id else None
        if live is None:
            return ReadResult(id_, _outputs(props, job_id, "MISSING", recorded.last_savepoint, recorded.restored_from))
        savepoint = client.latest_savepoint(job_id) or recorded.last_savepoint
        return ReadResult(id_, _outputs(props, job_id, live.state, savepoint, recorded.restored_from))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from components.errors import ClickstreamerError, JobFailedToStart, RequestRejected

        old, inputs, recorded = FlinkJobInputs.from_props(olds), FlinkJobInputs.from_props(news), RecordedJob.from_props(olds)
        client, old_id = inputs.client(), recorded.job_id
        restart = bool(inputs.changed(old, RESTART_INPUTS))
        live = client.job(old_id) if old_id else None
        known_savepoint = recorded.last_savepoint
        # A newly given initial_savepoint is the user's choice of state for a job that is not running.
        chosen = inputs.initial_savepoint if inputs.initial_savepoint != old.initial_savepoint else None
        if live is not None and live.state == "RUNNING" and not restart:
            if chosen:
                dyn.note(f"Flink job {old_id} is running: initial_savepoint {chosen} is recorded, not used")
            return UpdateResult(_outputs(news, old_id, "RUNNING", known_savepoint, recorded.restored_from))

        if live is not None and live.state in _ALIVE and live.state != "RUNNING":
            cause, _ = client.failure(old_id)
            checkpoint = client.latest_checkpoint(old_id)
            raise RequestRejected(
                f"Flink job {old_id} is {live.state}: a savepoint needs all its tasks running, so it is not upgraded",
                service="Flink", url=f"{inputs.rest_url}/jobs/{old_id}", failing_with=cause or None,
                latest_checkpoint=checkpoint,
                hint="fix what makes it fail and run `pulumi up` again; or cancel it and set initial_savepoint to "
                     + (f"its latest retained checkpoint {checkpoint}" if checkpoint else "a savepoint or retained checkpoint")
                     + " to upgrade from there",
            )
        if live is not None and live.state == "RUNNING":
            savepoint = client.stop_with_savepoint(old_id, inputs.savepoint_dir, timeout=inputs.wait_timeout)
            dyn.note(f"Flink job {old_id} stopped with savepoint {savepoint}")
        elif chosen:
            savepoint = chosen
            dyn.note(f"Flink job {old_id} is {live.state if live else 'gone'}; resubmitting from the given "
                     f"initial_savepoint {chosen}")
        elif live is not None:
            # Stopped earlier, e.g. by an upgrade whose new job then failed: Flink still reports its savepoint.
            savepoint = client.latest_savepoint(old_id) or known_savepoint
            dyn.note(f"Flink job {old_id} is {live.state}; resubmitting from {savepoint or 'no savepoint (empty state)'}")
        else:
            savepoint = known_savepoint or inputs.initial_savepoint or None
            dyn.note(f"Flink job {old_id} is gone from {inputs.rest_url} (cluster restarted?); resubmitting from "
                     f"{savepoint or 'no savepoint: its state starts empty'}")
        try:
            job_id = _start(client, inputs, savepoint)
        except ClickstreamerError as exc:
            exc.context.setdefault("savepoint", savepoint)
            if savepoint and isinstance(exc, JobFailedToStart):
                exc.context["hint"] = (f"the previous job is stopped; its state is in savepoint {savepoint}. Fix the "
                                       f"job and run `pulumi up` again: it resumes from there")
            raise
        return UpdateResult(_outputs(news, job_id, "RUNNING", savepoint or known_savepoint, savepoint))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from components.clients.flink_rest import TERMINAL
        from components.errors import RequestRejected

        inputs, job_id = FlinkJobInputs.from_props(props), RecordedJob.from_props(props).job_id
        client = inputs.client()
        live = client.job(job_id) if job_id else None
        if live is None or live.state in TERMINAL:
            dyn.note(f"Flink job {job_id} is {'gone' if live is None else live.state}: nothing to stop")
            return
        if inputs.on_destroy == "savepoint":
            try:
                savepoint = client.stop_with_savepoint(job_id, inputs.savepoint_dir, timeout=inputs.wait_timeout)
            except RequestRejected as exc:
                exc.context["hint"] = (f"{exc.context.get('hint')}; to destroy it without a savepoint, set "
                                       f"on_destroy to \"cancel\" (stack config flink.onDestroy) and run `pulumi up` first")
                raise
            dyn.note(f"Flink job {job_id} stopped; its state is kept in savepoint {savepoint} "
                     f"(pass it as initial_savepoint to start from it again)")
        else:
            client.cancel(job_id, timeout=inputs.wait_timeout)


def _start(client, inputs: FlinkJobInputs, savepoint: Optional[str]) -> str:
    """Submit and wait until every task runs; a job that does not get there is cancelled."""
    import uuid

    job_id = uuid.uuid4().hex
    client.submit_python(
        inputs.job_path, list(inputs.args), savepoint=savepoint, allow_non_restored_state=inputs.allow_non_restored_state,
        flink_config=inputs.flink_config, job_id=job_id, timeout=inputs.wait_timeout,
    )
    with dyn.undone_on_failure(lambda: client.cancel(job_id, timeout=CANCEL_TIMEOUT)):
        client.wait_running(job_id, timeout=inputs.wait_timeout)
    return job_id


def _outputs(props: Mapping[str, Any], job_id: Optional[str], state: str, last_savepoint: Optional[str],
             restored_from: Optional[str]) -> dict[str, Any]:
    return {**dyn.without_provider(props), "job_id": job_id or "", "state": state,
            "last_savepoint": last_savepoint or "", "restored_from": restored_from or ""}


class FlinkJob(pulumi.dynamic.Resource, module="flink", name="Job"):
    """A PyFlink job on a session cluster (type `pulumi-python:dynamic/flink:Job`).

    Outputs: `job_id` (the running job), `state` (RUNNING; MISSING when a refresh finds the cluster
    forgot it), `last_savepoint` (the newest savepoint taken by an upgrade, kept on the volume),
    `restored_from` (the savepoint the running job started from, empty for a fresh start).
    """

    job_id: pulumi.Output[str]
    state: pulumi.Output[str]
    last_savepoint: pulumi.Output[str]
    restored_from: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        rest_url: pulumi.Input[str],
        job_path: pulumi.Input[str],
        savepoint_dir: pulumi.Input[str],
        args: Optional[pulumi.Input[Sequence[pulumi.Input[str]]]] = None,
        code_hash: pulumi.Input[str] = "",
        on_destroy: pulumi.Input[str] = "savepoint",
        initial_savepoint: Optional[pulumi.Input[str]] = None,
        allow_non_restored_state: pulumi.Input[bool] = False,
        flink_config: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]] = None,
        wait_timeout: float = WAIT_TIMEOUT,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param rest_url: the JobManager's REST URL as reached from where `pulumi up` runs.
        :param job_path: the job's .py file inside the JobManager (bind-mounted, so code changes do not
            replace containers); changing it upgrades the job through a savepoint.
        :param savepoint_dir: savepoint directory URI on storage shared by JobManager and TaskManagers.
        :param args: program arguments, among them the job's own `--parallelism`; a change upgrades the
            job through a savepoint.
        :param code_hash: digest of the job's files, computed by the program; a change upgrades the job.
        :param on_destroy: "savepoint" (stop with a savepoint, kept) or "cancel".
        :param initial_savepoint: start the first submission from this savepoint or retained checkpoint.
        :param allow_non_restored_state: let a restore skip savepoint state no operator claims (after
            removing an operator from the job).
        :param flink_config: Flink settings for this job's submission (`flinkConfiguration`); a change
            upgrades the job.
        :param wait_timeout: seconds to wait for RUNNING, for a savepoint, or for a cancel.
        """
        props = {
            "rest_url": rest_url,
            "job_path": job_path,
            "args": args or [],
            "code_hash": code_hash,
            "savepoint_dir": savepoint_dir,
            "on_destroy": on_destroy,
            "initial_savepoint": initial_savepoint,
            "allow_non_restored_state": allow_non_restored_state,
            "flink_config": flink_config,
            "wait_timeout": wait_timeout,
            "job_id": None,
            "state": None,
            "last_savepoint": None,
            "restored_from": None,
        }
        super().__init__(FlinkJobProvider(), resource_name, props, opts)
