"""Small helpers shared by the fixtures that run real engines: free ports, polling, processes.

Stdlib only (used from both Python environments).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not hold before its deadline."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    what: str,
    probe: Callable[[], Optional[T]],
    timeout: float,
    interval: float = 0.2,
    hint: str = "",
) -> T:
    """Call `probe` until it returns something truthy, or raise after `timeout` seconds.

    The error says what was awaited, for how long, and the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except Exception as exc:  # the probe's failures are the "last state" we report
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"waited {timeout:.0f}s for {what}; last seen: {last!r}" + (f"; {hint}" if hint else "")
            )
        time.sleep(interval)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class Service:
    """A background process with its log file; stop() is graceful, kill() is SIGKILL."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: Optional[dict] = None, cwd: Optional[Path] = None):
        self.name = name
        self.log = log
        self._log_file = open(log, "ab")
        self.process = subprocess.Popen(
            cmd, stdout=self._log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def assert_alive(self) -> None:
        if not self.alive():
            raise AssertionError(
                f"{self.name} exited with {self.process.returncode}; log tail:\n{log_tail(self.log)}"
            )

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(10)
        self._log_file.close()

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.alive():
            self._signal(signal.SIGKILL)
            self.process.wait(10)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
