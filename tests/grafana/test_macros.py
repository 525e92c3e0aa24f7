"""The macro mirror (tests/support/grafana_macros.py) reproduces the plugin's own expectations.

Vectors are the cases of grafana-clickhouse-datasource v4.14.1 (tag commit c4409cfd):
pkg/macros/macros_test.go (TestMacro*, TestInterpolate, which runs sqlds.Interpolate) and
src/data/CHDatasource.test.ts (`$__conditionalAll`), and Grafana's template-service formats. If the
mirror drifts from them, the panel-query tests would be proving queries the plugin never sends.
"""
from __future__ import annotations

import pytest

from tests.support.grafana_macros import (ALL, MacroError, NotMirrored, QueryContext, Variable,
                                          apply_conditional_all, epoch_ms, expand_macros, interpolate,
                                          replace_variables)

# macros_test.go: from 2014-11-12T11:45:26.123Z to 2015-11-12T11:45:26.456Z (TestInterpolate)
PLUGIN_RANGE = QueryContext(epoch_ms("2014-11-12T11:45:26.123"), epoch_ms("2015-11-12T11:45:26.456"), 20_000)


@pytest.mark.parametrize("sql, expanded", [
    ("select * from foo where $__timeFilter(cast(sth as timestamp))",
     "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)"),
    ("select * from foo where $__timeFilter(cast(sth as timestamp) )",
     "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)"),
    ("select * from foo where $__timeFilter_ms(cast(sth as timestamp))",
     "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)"),
    ("select * from foo where $__timeFilter_ms(cast(sth as timestamp) )",
     "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)"),
    ("select * from foo where ( date >= $__fromTime and date <= $__toTime ) limit 100",
     "select * from foo where ( date >= toDateTime(1415792726) and date <= toDateTime(1447328726) ) limit 100"),
    ("select * from foo where ( date >= $__fromTime ) and ( date <= $__toTime ) limit 100",
     "select * from foo where ( date >= toDateTime(1415792726) ) and ( date <= toDateTime(1447328726) ) limit 100"),
    ("select * from foo where ( date >= $__fromTime_ms and date <= $__toTime_ms ) limit 100",
     "select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) and date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100"),
    ("select * from foo where ( date >= $__fromTime_ms ) and ( date <= $__toTime_ms ) limit 100",
     "select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) ) and ( date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100"),
])
def test_backend_interpolation_matches_the_plugins_test_interpolate(sql, expanded):
    assert expand_macros(sql, PLUGIN_RANGE) == expanded


@pytest.mark.parametrize("sql, expanded", [
    ("select $__timeInterval(col) from foo", "select toStartOfInterval(toDateTime(col), INTERVAL 20 second) from foo"),
    ("select $__timeInterval_ms(col) from foo",
     "select toStartOfInterval(toDateTime64(col, 3), INTERVAL 20000 millisecond) from foo"),
    ("select toStartOfInterval(col, INTERVAL $__interval_s second) AS time from foo",
     "select toStartOfInterval(col, INTERVAL 20 second) AS time from foo"),
    ("where $__dateFilter(d)", "where d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')"),
    ("where $__dateTimeFilter(d, t)",
     "where (d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')) AND (t >= toDateTime(1415792726) AND t <= toDateTime(1447328726))"),
    ("where $__dt(d, t)",
     "where (d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')) AND (t >= toDateTime(1415792726) AND t <= toDateTime(1447328726))"),
])
def test_backend_macros_match_the_plugins_macro_tests(sql, expanded):
    assert expand_macros(sql, PLUGIN_RANGE) == expanded


def test_interval_seconds_is_never_below_one_and_truncates():
    assert expand_macros("$__interval_s", QueryContext(0, 1, 500)) == "1"
    assert expand_macros("$__interval_s", QueryContext(0, 1, 2_999)) == "2"


def test_longer_macro_names_win_over_their_prefixes():
    ctx = QueryContext(epoch_ms("2026-11-28T13:00:00.250"), epoch_ms("2026-11-28T14:00:00.750"), 60_000)
    assert expand_macros("$__toTime_ms $__toTime $__interval_ms $__interval_s", ctx) == \
        "fromUnixTimestamp64Milli(1795874400750) toDateTime(1795874400) 60000 60"


def test_wrong_argument_counts_and_open_brackets_are_refused_like_the_plugin():
    with pytest.raises(MacroError, match="expected 1 argument, received 2"):
        expand_macros("$__timeFilter(a, b)", PLUGIN_RANGE)
    with pytest.raises(MacroError, match="missing close bracket"):
        expand_macros("$__timeFilter(a", PLUGIN_RANGE)


# CHDatasource.test.ts, describe('applyConditionalAll')
@pytest.mark.parametrize("sql, current, expanded", [
    ("select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal);", {"fieldVal": ALL},
     "select stuff from table where 1=1;"),
    ("select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal);",
     {"fieldVal": "'val1', 'val2'"}, "select stuff from table where fieldVal in ($fieldVal);"),
    ("select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal) and "
     "$__conditionalAll(fieldVal in ($fieldVal2), $fieldVal2);",
     {"fieldVal": "'val1', 'val2'", "fieldVal2": ALL}, "select stuff from table where fieldVal in ($fieldVal) and 1=1;"),
    ("$__conditionalAll(foo, $fieldVal)", {"fieldVal": "'val1', 'val2'"}, "foo"),
    ("$__conditionalAll(foo, $fieldVal)", {"fieldVal": ALL}, "1=1"),
])
def test_conditional_all_matches_the_plugins_tests(sql, current, expanded):
    variables = {name: Variable(name, (), value) for name, value in current.items()}
    assert apply_conditional_all(sql, variables) == expanded


def test_conditional_all_treats_a_multi_value_all_and_an_empty_selection_as_all():
    sql = "WHERE $__conditionalAll(hasAny(page_ids, [${page:singlequote}]), $page)"
    assert apply_conditional_all(sql, {"page": Variable("page", ("a",), (ALL,))}) == "WHERE 1=1"
    assert apply_conditional_all(sql, {"page": Variable("page", ("a",), ())}) == "WHERE 1=1"
    assert apply_conditional_all(sql, {"page": Variable("page", ("a", "b"), ("a",))}) == \
        "WHERE hasAny(page_ids, [${page:singlequote}])"


def test_template_variables_are_formatted_like_grafana_and_the_plugin():
    ctx = QueryContext(1_000, 2_000, 20, {
        "page": Variable("page", ("P1", "P2", "O'Hara"), ("P1", "O'Hara")),
        "one": Variable("one", ("x",), "x"),
        "all": Variable("all", ("a", "b"), (ALL,)),
        "custom_all": Variable("custom_all", ("a", "b"), (ALL,), all_value=".*"),
    })
    assert replace_variables("${page:singlequote}", ctx) == "'P1','O\\'Hara'"  # Grafana escapes quotes
    assert replace_variables("$page", ctx) == "'P1','O'Hara'"  # the plugin's own list format does not
    assert replace_variables("[[one]] ${one} ${one:csv}", ctx) == "x x x"
    assert replace_variables("${all:singlequote}", ctx) == "'a','b'"  # All without allValue: every option
    assert replace_variables("${custom_all:singlequote}", ctx) == ".*"  # a custom all value is not formatted
    assert replace_variables("$__from $__to ${__interval_ms}", ctx) == "1000 2000 20"
    # not variables: left for the backend, or for ClickHouse to refuse
    assert replace_variables("$__timeFilter(t) $__interval_s $nope", ctx) == "$__timeFilter(t) $__interval_s $nope"


def test_what_the_mirror_does_not_model_is_refused():
    ctx = QueryContext(0, 1, 1)
    for sql in ("$__interval", "SELECT $__timeGroup(t, minute)", "$__table", "SETTINGS $__adHocFilters('t')"):
        with pytest.raises(NotMirrored):
            interpolate(sql, ctx)
    with pytest.raises(NotMirrored):
        interpolate("${page:lucene}", QueryContext(0, 1, 1, {"page": Variable("page", ("a",), "a")}))


def test_frontend_then_backend_order():
    ctx = QueryContext(epoch_ms("2026-11-28T13:00:00"), epoch_ms("2026-11-28T13:59:59.999"), 20_000,
                       {"page": Variable("page", ("Page_11", "Page_17"), ("Page_11",))})
    sql = "WHERE $__timeFilter(minute) AND $__conditionalAll(page_id IN (${page:singlequote}), $page)"
    assert interpolate(sql, ctx) == \
        "WHERE minute >= toDateTime(1795870800) AND minute <= toDateTime(1795874399) AND page_id IN ('Page_11')"
