"""The tests' clock: known data is dated relative to when the test session starts, never on a day
written into the code.

Raw-event tables expire rows by TTL against ClickHouse's `now()`, and a Kafka broker deletes
records older than its retention: a fixture dated on a fixed day stops landing once that day is
older than either. So every known row is placed on `DAY`, the UTC day before the session started
(read once, at import, from the same clock ClickHouse and the broker read), at the wall-clock
times the fixtures spell out (`at("13:05:07.250")`). That keeps fixtures readable, keeps every
known time in the past (panels compute `now() - t`) and at least ~10 hours, at most ~2 days old,
far from any retention. Tests that are about retention place their rows relative to `now_ms()`.

`redate(value)` moves the times of a document written on another day (the data contract's JSON
examples) onto `DAY`.

Stdlib only: imported by both the program's and the Flink job's environments. Prove independence
from the date by running a suite under a shifted clock (README, "Testing"): `faketime` shifts the
clock of the test process and of the engines it starts; where a process cannot run under
libfaketime (librdkafka's timed waits hang under it), `CLICKSTREAMER_CLOCK_SHIFT=+365d` shifts this
module's clock instead, so the known data is dated a year off what the engines read.
"""
from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any


def _shift_seconds(text: str) -> int:
    """`+365d` / `-12h` / `0` as seconds (the syntax of faketime's relative offsets, d and h only)."""
    match = re.fullmatch(r"([+-]?[0-9]+)([dh]?)", text.strip())
    if not match:
        raise ValueError(f"CLICKSTREAMER_CLOCK_SHIFT={text!r}: give a whole number of days or hours, e.g. +365d")
    return int(match.group(1)) * {"d": 86400, "h": 3600, "": 1}[match.group(2)]


SHIFT_SECONDS = _shift_seconds(os.environ.get("CLICKSTREAMER_CLOCK_SHIFT", "0"))
_SESSION_START = datetime.fromtimestamp(time.time() + SHIFT_SECONDS, tz=timezone.utc)

DAY: str = (_SESSION_START - timedelta(days=1)).strftime("%Y-%m-%d")
"""`YYYY-MM-DD`: the day every known row is placed on."""

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?=[ T]\d{2}:\d{2})")


def now_ms() -> int:
    """Milliseconds since the epoch, now (the clock ClickHouse's `now()` and the broker read)."""
    return int((time.time() + SHIFT_SECONDS) * 1000)


def at(clock: str, day: str = DAY) -> str:
    """`YYYY-MM-DD hh:mm:ss[.fff]` on `day` (default: the known day) for a wall-clock time."""
    return f"{day} {clock}"


def iso(clock: str, day: str = DAY) -> str:
    """`YYYY-MM-DDThh:mm:ss[.fff]` on `day`, as Grafana's time range is written."""
    return f"{day}T{clock}"


def epoch_ms(clock: str, day: str = DAY) -> int:
    """UTC epoch milliseconds of a wall-clock time on `day`."""
    moment = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def day_before(day: str = DAY) -> str:
    """The day before `day`: a day with no known rows."""
    return (datetime.fromisoformat(day) - timedelta(days=1)).strftime("%Y-%m-%d")


def utc_text(ms: int) -> str:
    """`YYYY-MM-DD hh:mm:ss.fff` (UTC) of epoch milliseconds: how the job and ClickHouse print times."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


def redate(value: Any, day: str = DAY) -> Any:
    """`value` with every `YYYY-MM-DD hh:mm` date in its strings moved to `day` (recursively)."""
    if isinstance(value, str):
        return _DATE.sub(day, value)
    if isinstance(value, dict):
        return {k: redate(v, day) for k, v in value.items()}
    if isinstance(value, list):
        return [redate(v, day) for v in value]
    return value
