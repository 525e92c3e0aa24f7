"""`FlinkJob`: a PyFlink job on a Flink session cluster as a Pulumi dynamic resource, over
components/clients/flink_rest.py.

- create: submit the job (REST, PythonDriver entry class) and wait until it RUNS with the requested
  parallelism; a job that cannot start is cancelled and the root cause from Flink is reported.
- update: a change of job code (`code_hash`), job arguments, Flink config or parallelism stops the job
  with a savepoint and resubmits it from that savepoint, so its state carries over. Other input
  changes are only recorded. A job that is gone (the cluster restarted) or stopped is resubmitted
  from the newest savepoint known: an `initial_savepoint` given in this update, else the one Flink
  still reports for the stopped job, else the last one this resource recorded. A job that is
  restarting (failing) cannot take a savepoint: the update is refused with its failure and latest
  retained checkpoint, and the job is left as it is.
- read (refresh): the live state; a job the cluster no longer knows shows as `MISSING` and stays in
  the state, so the next `up` can resubmit it from its last savepoint.
- delete: stop with a savepoint (kept; its path is logged) or cancel, per `on_destroy`.

The resource id is stable across upgrades; the running job's id is the `job_id` output.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

ON_DESTROY = ("savepoint", "cancel")
# A change of any of these needs the job stopped with a savepoint and submitted again.
RESTART_INPUTS = ("job_path", "args", "code_hash", "parallelism", "flink_config")
# A change of any of these is recorded; the running job is left alone.
RECORD_INPUTS = ("rest_url", "savepoint_dir", "on_destroy", "initial_savepoint", "allow_non_restored_state", "wait_timeout")
_ALIVE = ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING", "RECONCILING", "FAILING")


class FlinkJobProvider(ResourceProvider):
    """The provider. Self-contained: every import happens inside a method (see STYLE.md)."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        from components.clients._http import RetryPolicy
        from components.clients.flink_rest import FlinkClient
        from components.errors import ClickstreamerError
        from components.resources._dynamic import as_config_value, known, looks_secret, note, unknown

        inputs = dict(news)
        failures: list[CheckFailure] = []

        def fail(prop: str, reason: str) -> None:
            failures.append(CheckFailure(prop, reason))

        url = inputs.get("rest_url")
        if known(url) and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            fail("rest_url", f"{url!r}: must be the http(s) URL of the Flink REST API")
        path = inputs.get("job_path")
        if known(path) and not (isinstance(path, str) and path.startswith("/") and path.endswith(".py")):
            fail("job_path", f"{path!r}: must be the absolute path of a .py file inside the JobManager")
        args = inputs.get("args") or []
        if not unknown(args):
            if not isinstance(args, (list, tuple)):
                fail("args", f"must be a list of program arguments, got {type(args).__name__}")
            else:
                args = inputs["args"] = [as_config_value(a) for a in args]
                for arg in args:
                    if arg.startswith("-") and looks_secret(arg):
                        fail("args", f"{arg!r} looks like a credential: job arguments are stored in the state and "
                                     f"shown in the Flink UI")
        parallelism = inputs.get("parallelism")
        if known(parallelism):
            if isinstance(parallelism, float) and parallelism.is_integer():
                parallelism = inputs["parallelism"] = int(parallelism)
            if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
                fail("parallelism", f"must be a whole number >= 1, got {parallelism!r}")
        for prop, required in (("savepoint_dir", True), ("initial_savepoint", False)):
            value = inputs.get(prop)
            if value is None or value == "":
                if required:
                    fail(prop, "is required: a directory URI shared by JobManager and TaskManagers (file:///…)")
            elif known(value) and not (isinstance(value, str) and "://" in value or str(value).startswith("file:/")):
                fail(prop, f"{value!r}: must be a URI with a scheme, e.g. file:///opt/flink/savepoints")
        on_destroy = inputs.get("on_destroy", "savepoint")
        if known(on_destroy) and on_destroy not in ON_DESTROY:
            fail("on_destroy", f"{on_destroy!r}: allowed: {', '.join(ON_DESTROY)}")
        flink_config = inputs.get("flink_config") or {}
        if not unknown(flink_config):
            if not isinstance(flink_config, Mapping):
                fail("flink_config", f"must be a map of Flink config keys to values, got {type(flink_config).__name__}")
            else:
                inputs["flink_config"] = {str(k): as_config_value(v) for k, v in flink_config.items()} or None
                for key in flink_config:
                    if looks_secret(str(key)):
                        fail("flink_config", f"{key!r} looks like a credential: it would be stored in the state")
        timeout = inputs.get("wait_timeout", 180)
        if known(timeout) and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            fail("wait_timeout", f"must be a number of seconds > 0, got {timeout!r}")

        if not failures and known(url, parallelism):
            try:
                overview = FlinkClient(url, RetryPolicy(deadline=0, request_timeout=3)).overview()
                if overview.slots_total < parallelism:
                    note(f"Flink at {url} has {overview.slots_total} task slot(s) now; the job needs {parallelism} "
                         f"(fine if TaskManagers are being added in this update)")
            except ClickstreamerError:
                note(f"Flink at {url} is not reachable yet: the job will be checked when it is submitted")
        return CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        from components.clients._http import RetryPolicy
        from components.clients.flink_rest import FlinkClient
        from components.errors import ClickstreamerError
        from components.resources._dynamic import known, note, unknown

        changed = [k for k in (*RESTART_INPUTS, *RECORD_INPUTS) if (olds.get(k) or None) != (news.get(k) or None)]
        if changed or any(unknown(news.get(k)) for k in RESTART_INPUTS):
            return DiffResult(changes=True, replaces=[])
        if olds.get("state") != "RUNNING":  # a refresh found it stopped, failed or gone
            return DiffResult(changes=True, replaces=[])
        # Truth over records: a job stopped or lost since the last `up` (cluster restart) needs resubmitting.
        url, job_id = news.get("rest_url"), olds.get("job_id")
        if known(url) and job_id:
            try:
                live = FlinkClient(url, RetryPolicy(deadline=0, request_timeout=3)).job(job_id)
            except ClickstreamerError:
                live = False  # unreachable now: nothing to learn
            if live is None or (live and live.state != "RUNNING"):
                note(f"Flink job {job_id} is {'gone from the cluster' if live is None else live.state}: it will be "
                     f"submitted again from its last savepoint")
                return DiffResult(changes=True, replaces=[])
        return DiffResult(changes=False, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        import uuid

        client = _client(props)
        savepoint = props.get("initial_savepoint") or None
        job_id = _start(client, props, savepoint)
        return CreateResult(f"flinkjob-{uuid.uuid4().hex[:16]}", _outputs(props, job_id, "RUNNING", savepoint, savepoint))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client, job_id = _client(props), props.get("job_id")
        live = client.job(job_id) if job_id else None
        if live is None:
            return ReadResult(id_, {**_outputs(props, job_id, "MISSING", props.get("last_savepoint"),
                                               props.get("restored_from"))})
        savepoint = client.latest_savepoint(job_id) or props.get("last_savepoint")
        return ReadResult(id_, _outputs(props, job_id, live.state, savepoint, props.get("restored_from")))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from components.errors import ClickstreamerError, JobFailedToStart, RequestRejected
        from components.resources._dynamic import note

        client, old_id = _client(news), olds.get("job_id")
        restart = any((olds.get(k) or None) != (news.get(k) or None) for k in RESTART_INPUTS)
        live = client.job(old_id) if old_id else None
        known_savepoint = olds.get("last_savepoint") or None
        # A newly given initial_savepoint is the user's choice of state for a job that is not running.
        chosen = news.get("initial_savepoint") if news.get("initial_savepoint") != olds.get("initial_savepoint") else None
        if live is not None and live.state == "RUNNING" and not restart:
            if chosen:
                note(f"Flink job {old_id} is running: initial_savepoint {chosen} is recorded, not used")
            return UpdateResult(_outputs(news, old_id, "RUNNING", known_savepoint, olds.get("restored_from")))

        if live is not None and live.state in _ALIVE and live.state != "RUNNING":
            cause, _ = client.failure(old_id)
            checkpoint = client.latest_checkpoint(old_id)
            raise RequestRejected(
                f"Flink job {old_id} is {live.state}: a savepoint needs all its tasks running, so it is not upgraded",
                service="Flink", url=f"{news['rest_url']}/jobs/{old_id}", failing_with=cause or None,
                latest_checkpoint=checkpoint,
                hint="fix what makes it fail and run `pulumi up` again; or cancel it and set initial_savepoint to "
                     + (f"its latest retained checkpoint {checkpoint}" if checkpoint else "a savepoint or retained checkpoint")
                     + " to upgrade from there",
            )
        if live is not None and live.state == "RUNNING":
            savepoint = client.stop_with_savepoint(old_id, news["savepoint_dir"], timeout=float(news.get("wait_timeout") or 180))
            note(f"Flink job {old_id} stopped with savepoint {savepoint}")
        elif chosen:
            savepoint = chosen
            note(f"Flink job {old_id} is {live.state if live else 'gone'}; resubmitting from the given initial_savepoint {chosen}")
        elif live is not None:
            # Stopped earlier, e.g. by an upgrade whose new job then failed: Flink still reports its savepoint.
            savepoint = client.latest_savepoint(old_id) or known_savepoint
            note(f"Flink job {old_id} is {live.state}; resubmitting from {savepoint or 'no savepoint (empty state)'}")
        else:
            savepoint = known_savepoint or news.get("initial_savepoint") or None
            note(f"Flink job {old_id} is gone from {news['rest_url']} (cluster restarted?); resubmitting from "
                 f"{savepoint or 'no savepoint: its state starts empty'}")
        try:
            job_id = _start(client, news, savepoint)
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
        from components.resources._dynamic import note

        client, job_id = _client(props), props.get("job_id")
        live = client.job(job_id) if job_id else None
        if live is None or live.state in TERMINAL:
            note(f"Flink job {job_id} is {'gone' if live is None else live.state}: nothing to stop")
            return
        if props.get("on_destroy", "savepoint") == "savepoint":
            try:
                savepoint = client.stop_with_savepoint(job_id, props["savepoint_dir"],
                                                       timeout=float(props.get("wait_timeout") or 180))
            except RequestRejected as exc:
                exc.context["hint"] = (f"{exc.context.get('hint')}; to destroy it without a savepoint, set "
                                       f"on_destroy to \"cancel\" (stack config flink.onDestroy) and run `pulumi up` first")
                raise
            note(f"Flink job {job_id} stopped; its state is kept in savepoint {savepoint} "
                 f"(pass it as initial_savepoint to start from it again)")
        else:
            client.cancel(job_id, timeout=float(props.get("wait_timeout") or 180))


def _client(props: Mapping[str, Any]):
    from components.clients._http import RetryPolicy
    from components.clients.flink_rest import FlinkClient

    return FlinkClient(props["rest_url"], RetryPolicy(deadline=min(float(props.get("wait_timeout") or 180), 60)))


def _start(client, props: Mapping[str, Any], savepoint: Optional[str]) -> str:
    """Submit and wait until RUNNING; a job that does not get there is cancelled (create is transactional)."""
    import uuid

    from components.errors import ClickstreamerError

    job_id = uuid.uuid4().hex
    timeout = float(props.get("wait_timeout") or 180)
    client.submit_python(
        props["job_path"], list(props.get("args") or []), parallelism=int(props["parallelism"]), savepoint=savepoint,
        allow_non_restored_state=bool(props.get("allow_non_restored_state")), flink_config=props.get("flink_config") or None,
        job_id=job_id, timeout=timeout,
    )
    try:
        client.wait_running(job_id, int(props["parallelism"]), timeout=timeout)
    except ClickstreamerError:
        try:
            client.cancel(job_id, timeout=30)
        except ClickstreamerError:
            pass
        raise
    return job_id


def _outputs(props: Mapping[str, Any], job_id: Optional[str], state: str, last_savepoint: Optional[str],
             restored_from: Optional[str]) -> dict[str, Any]:
    from components.resources._dynamic import without_provider

    return {**without_provider(props), "job_id": job_id or "", "state": state,
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
        parallelism: pulumi.Input[int] = 1,
        on_destroy: pulumi.Input[str] = "savepoint",
        initial_savepoint: Optional[pulumi.Input[str]] = None,
        allow_non_restored_state: pulumi.Input[bool] = False,
        flink_config: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]] = None,
        wait_timeout: float = 180.0,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param rest_url: the JobManager's REST URL as reached from where `pulumi up` runs.
        :param job_path: the job's .py file inside the JobManager (bind-mounted, so code changes do not
            replace containers); changing it upgrades the job through a savepoint.
        :param savepoint_dir: savepoint directory URI on storage shared by JobManager and TaskManagers.
        :param args: program arguments; a change upgrades the job through a savepoint.
        :param code_hash: digest of the job's files, computed by the program; a change upgrades the job.
        :param parallelism: the job's parallelism; a change upgrades the job through a savepoint.
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
            "parallelism": parallelism,
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
