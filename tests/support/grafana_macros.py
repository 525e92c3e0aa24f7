"""How a dashboard query's text becomes the SQL ClickHouse runs, mirrored from the code that does it.

A panel query of grafana-clickhouse-datasource 4.14.1 (pinned in images/grafana) passes three
rewrites before it reaches ClickHouse. They are mirrored here in the same order, each from its
source (read at these tags; nothing is copied):

1. Plugin frontend, `Datasource.applyTemplateVariables` (src/data/CHDatasource.ts @ v4.14.1):
   `applyConditionalAll` first: every `$__conditionalAll(<condition>, $var)` becomes `1=1` when
   `$var`'s current value is empty or `$__all`, else `<condition>`; arguments are split at commas of
   bracket depth 1 (`getMacroArgs`), and the call is rebuilt as `$__conditionalAll(a,b)` to be
   replaced, so a call of any other shape is left as it is.
2. Grafana's template service, `templateSrv.replace(sql, scopedVars, this.format)` (Grafana 11
   public/app/features/templating/template_srv.ts, variableRegex in features/variables/utils.ts;
   the formats of @grafana/scenes' formatRegistry): `$var`, `[[var]]`, `${var}`, `${var:format}`.
   A name that is neither a dashboard variable nor a scoped one (`__from`, `__to`,
   `__interval_ms`) is left untouched: that is how `$__timeFilter(...)` and friends survive to the
   backend. Without an explicit format the plugin's own formatter applies (`CHDatasource.format`:
   a list becomes `'a','b'` with no escaping, a single value is inserted raw). A variable whose
   value is `$__all` expands to `allValue` unformatted when one is set, else to every option.
   No ad-hoc filter variable is mirrored (the dashboards define none; with no filter the plugin
   leaves the SQL unchanged, src/data/adHocFilter.ts `apply`).
3. Plugin backend: sqlds v5.0.4 `Interpolate` → grafana-plugin-sdk-go v0.284.0
   `data/sqlutil/macros.go` `Interpolate`, with the plugin's macros (pkg/macros/macros.go @ v4.14.1)
   merged over the SDK defaults, applied longest name first; a name matches `\\$__<name>\\b` and
   takes a bracketed argument list split at depth-1 commas, each argument trimmed.
   `query.TimeRange` is the request's from/to in milliseconds; `query.Interval` its intervalMs.

Dates: `$__dateFilter` formats the range in the plugin process's time zone (Go `time.Local`);
the Grafana image runs in UTC, which is what this mirror assumes.

What is not mirrored raises `NotMirrored` instead of guessing: `$__interval` (frontend formats it
with rangeutil), the SDK's `$__timeGroup`, `$__table`, `$__column`, `$__adHocFilters`, and
variable field paths (`${var.field}`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping, Optional, Sequence, Union

ALL = "$__all"  # Grafana's ALL_VARIABLE_VALUE


class NotMirrored(Exception):
    """The query uses something this mirror does not model; extend the mirror before using it."""


class MacroError(Exception):
    """What the plugin itself would refuse (wrong argument count, unclosed bracket)."""


@dataclass(frozen=True)
class Variable:
    """A dashboard variable as the template service sees it after its query ran.

    `options` are the values the variable query returned (the "All" option excluded); `current`
    is the selection: `ALL`, one value, or a list (a multi-value variable always holds a list).
    """

    name: str
    options: tuple[str, ...]
    current: Union[str, tuple[str, ...]] = (ALL,)
    all_value: Optional[str] = None

    def current_value(self) -> Union[str, list[str]]:
        return list(self.current) if isinstance(self.current, tuple) else self.current


@dataclass(frozen=True)
class QueryContext:
    """One request: the time range (epoch ms, as Grafana sends it), interval and variables."""

    from_ms: int
    to_ms: int
    interval_ms: int
    variables: Mapping[str, Variable] = field(default_factory=dict)

    @staticmethod
    def between(start: str, end: str, interval_ms: int, *variables: Variable) -> "QueryContext":
        """From ISO-8601 UTC instants, e.g. `between("2026-11-28T13:00:00.000", ...)`."""
        return QueryContext(epoch_ms(start), epoch_ms(end), interval_ms, {v.name: v for v in variables})

    def with_variables(self, *variables: Variable) -> "QueryContext":
        return QueryContext(self.from_ms, self.to_ms, self.interval_ms,
                            {**self.variables, **{v.name: v for v in variables}})


def epoch_ms(iso_utc: str) -> int:
    moment = datetime.fromisoformat(iso_utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def interpolate(raw_sql: str, ctx: QueryContext) -> str:
    """The SQL the plugin sends to ClickHouse for `raw_sql` in `ctx`."""
    sql = apply_conditional_all(raw_sql, ctx.variables)
    sql = replace_variables(sql, ctx)
    return expand_macros(sql, ctx)


# --- 1. plugin frontend: $__conditionalAll -------------------------------------------------------

_CONDITIONAL_ALL = "$__conditionalAll("
_VARIABLE_IN_ARG = re.compile(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+")


def apply_conditional_all(sql: str, variables: Mapping[str, Variable]) -> str:
    index = sql.rfind(_CONDITIONAL_ALL)
    while index != -1:
        params = _macro_args(sql, index + len(_CONDITIONAL_ALL) - 1)
        if len(params) != 2:
            return sql
        phrase = params[0]
        name = _VARIABLE_IN_ARG.search(params[1].strip())
        if name:
            variable = variables.get(name.group(0))
            value = _js_to_string(variable.current_value()) if variable else None
            if value in ("", ALL):
                phrase = "1=1"
        # String.prototype.replace with a string pattern: the first occurrence, and `$` patterns
        # in the replacement are special. None of ours use them; refuse rather than mis-mirror.
        if re.search(r"\$[$&`'<0-9]", phrase):
            raise NotMirrored(f"a $__conditionalAll condition with a JS replacement pattern: {phrase!r}")
        call = f"{_CONDITIONAL_ALL}{params[0]},{params[1]})"
        sql = sql.replace(call, phrase, 1)
        index = sql.rfind(_CONDITIONAL_ALL)
    return sql


def _macro_args(sql: str, open_index: int) -> list[str]:
    """`getMacroArgs`: `sql[open_index]` is the `(`; arguments split at depth-1 commas, untrimmed."""
    args: list[str] = []
    depth = 0
    last_end = 1
    text = sql[open_index:]
    for match in re.finditer(r"\(|\)|,", text):
        node, end = match.group(0), match.end()
        if node == "(":
            depth += 1
        elif node == ")":
            depth -= 1
        if node == "," and depth == 1:
            args.append(text[last_end:end - 1])
            last_end = end
        if depth == 0:
            args.append(text[last_end:end - 1])
            return args
    return []


def _js_to_string(value: Union[str, list[str]]) -> str:
    return ",".join(value) if isinstance(value, list) else value


# --- 2. Grafana template service -------------------------------------------------------------------

_VARIABLE_REGEX = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")


def _single_quote(value: Union[str, list[str]]) -> str:
    if isinstance(value, list):
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in value)
    return "'" + value.replace("'", "\\'") + "'"


def _double_quote(value: Union[str, list[str]]) -> str:
    if isinstance(value, list):
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in value)
    return '"' + value.replace('"', '\\"') + '"'


def _csv(value: Union[str, list[str]]) -> str:
    return ",".join(value) if isinstance(value, list) else value


def _raw(value: Union[str, list[str]]) -> str:
    return ",".join(value) if isinstance(value, list) else value


def _plugin_format(value: Union[str, list[str]]) -> str:
    """`CHDatasource.format`: lists quoted and comma-joined (no escaping), scalars raw."""
    if isinstance(value, list):
        return "'" + "','".join(value) + "'"
    return value


FORMATS: dict[str, Callable[[Union[str, list[str]]], str]] = {
    "singlequote": _single_quote,
    "doublequote": _double_quote,
    "csv": _csv,
    "raw": _raw,
}


def replace_variables(sql: str, ctx: QueryContext) -> str:
    scoped = {"__from": str(ctx.from_ms), "__to": str(ctx.to_ms), "__interval_ms": str(ctx.interval_ms)}

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if match.group(5):
            raise NotMirrored(f"variable field paths: {match.group(0)}")
        if name in scoped:
            return _format(scoped[name], fmt)
        if name == "__interval":
            raise NotMirrored("$__interval (the frontend formats it with rangeutil); use $__interval_s")
        variable = ctx.variables.get(name)
        if variable is None:
            return match.group(0)
        value = variable.current_value()
        if value == ALL or (isinstance(value, list) and value[:1] == [ALL]):
            if variable.all_value:
                return replace_variables(variable.all_value, ctx)
            value = list(variable.options)
        return _format(value, fmt)

    return _VARIABLE_REGEX.sub(replace, sql)


def _format(value: Union[str, list[str]], fmt: Optional[str]) -> str:
    if fmt is None:
        return _plugin_format(value)
    if fmt not in FORMATS:
        raise NotMirrored(f"variable format {fmt!r}")
    return FORMATS[fmt](value)


# --- 3. plugin backend: sqlutil.Interpolate with the plugin's macros --------------------------------

def _unix(ms: int) -> int:
    return ms // 1000  # Go time.Unix(): floor


def _to_datetime(ms: int) -> str:
    return f"toDateTime({_unix(ms)})"


def _to_datetime64(ms: int) -> str:
    return f"fromUnixTimestamp64Milli({ms})"


def _to_date(ms: int) -> str:
    day = datetime.fromtimestamp(_unix(ms), tz=timezone.utc).strftime("%Y-%m-%d")
    return f"toDate('{day}')"


def _args(n: int, args: Sequence[str]) -> Sequence[str]:
    if len(args) != n:
        raise MacroError(f"unexpected number of arguments: expected {n} argument, received {len(args)}")
    return args


def _time_filter(ctx: QueryContext, args: Sequence[str]) -> str:
    (column,) = _args(1, args)
    return f"{column} >= {_to_datetime(ctx.from_ms)} AND {column} <= {_to_datetime(ctx.to_ms)}"


def _time_filter_ms(ctx: QueryContext, args: Sequence[str]) -> str:
    (column,) = _args(1, args)
    return f"{column} >= {_to_datetime64(ctx.from_ms)} AND {column} <= {_to_datetime64(ctx.to_ms)}"


def _date_filter(ctx: QueryContext, args: Sequence[str]) -> str:
    (column,) = _args(1, args)
    return f"{column} >= {_to_date(ctx.from_ms)} AND {column} <= {_to_date(ctx.to_ms)}"


def _date_time_filter(ctx: QueryContext, args: Sequence[str]) -> str:
    date_column, time_column = _args(2, args)
    return (f"({date_column} >= {_to_date(ctx.from_ms)} AND {date_column} <= {_to_date(ctx.to_ms)}) AND "
            f"({time_column} >= {_to_datetime(ctx.from_ms)} AND {time_column} <= {_to_datetime(ctx.to_ms)})")


def _interval_seconds(ctx: QueryContext) -> int:
    return int(max(ctx.interval_ms / 1000, 1))


def _time_interval(ctx: QueryContext, args: Sequence[str]) -> str:
    (column,) = _args(1, args)
    return f"toStartOfInterval(toDateTime({column}), INTERVAL {_interval_seconds(ctx)} second)"


def _time_interval_ms(ctx: QueryContext, args: Sequence[str]) -> str:
    (column,) = _args(1, args)
    return f"toStartOfInterval(toDateTime64({column}, 3), INTERVAL {int(max(ctx.interval_ms, 1))} millisecond)"


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(_unix(ms), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sdk_time_from(ctx: QueryContext, args: Sequence[str]) -> str:
    (column,) = _args(1, args)
    return f"{column} >= '{_rfc3339(ctx.from_ms)}'"


def _sdk_time_to(ctx: QueryContext, args: Sequence[str]) -> str:
    (column,) = _args(1, args)
    return f"{column} <= '{_rfc3339(ctx.to_ms)}'"


def _not_mirrored(name: str) -> Callable[[QueryContext, Sequence[str]], str]:
    def refuse(ctx: QueryContext, args: Sequence[str]) -> str:
        raise NotMirrored(f"$__{name}")
    return refuse


MacroFunc = Callable[[QueryContext, Sequence[str]], str]

# sdk DefaultMacros, then the plugin's map copied over them (maps.Copy order in Interpolate).
MACROS: dict[str, MacroFunc] = {
    "interval": _not_mirrored("interval"),
    "interval_ms": lambda ctx, args: str(ctx.interval_ms),
    "timeFilter": _time_filter,
    "timeFrom": _sdk_time_from,
    "timeGroup": _not_mirrored("timeGroup"),
    "timeTo": _sdk_time_to,
    "table": _not_mirrored("table"),
    "column": _not_mirrored("column"),
    # pkg/macros/macros.go
    "fromTime": lambda ctx, args: _to_datetime(ctx.from_ms),
    "toTime": lambda ctx, args: _to_datetime(ctx.to_ms),
    "fromTime_ms": lambda ctx, args: _to_datetime64(ctx.from_ms),
    "toTime_ms": lambda ctx, args: _to_datetime64(ctx.to_ms),
    "timeFilter_ms": _time_filter_ms,
    "dateFilter": _date_filter,
    "dateTimeFilter": _date_time_filter,
    "dt": _date_time_filter,
    "timeInterval": _time_interval,
    "timeInterval_ms": _time_interval_ms,
    "interval_s": lambda ctx, args: str(_interval_seconds(ctx)),
}


def expand_macros(sql: str, ctx: QueryContext) -> str:
    if "$__adHocFilters" in sql:
        raise NotMirrored("$__adHocFilters")
    for name in sorted(MACROS, key=len, reverse=True):
        pattern = re.compile(r"\$__" + re.escape(name) + r"\b", re.ASCII)
        for full, args in [_macro_match(sql, m) for m in pattern.finditer(sql)]:
            sql = sql.replace(full, MACROS[name](ctx, args))
    return sql


def _macro_match(sql: str, match: re.Match) -> tuple[str, list[str]]:
    """`getMacroMatches` + `parseArgs`: the call text and its trimmed arguments (none without `(`)."""
    rest = sql[match.end():]
    if not rest.startswith("("):
        return match.group(0), []
    args: list[str] = []
    depth = 0
    arg: list[str] = []
    for i, char in enumerate(rest):
        if char == "(":
            depth += 1
            if depth == 1:
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(arg).strip())
                return sql[match.start():match.end() + i + 1], args
        elif char == "," and depth == 1:
            args.append("".join(arg).strip())
            arg = []
            continue
        arg.append(char)
    raise MacroError("failed to parse macro arguments (missing close bracket?)")
