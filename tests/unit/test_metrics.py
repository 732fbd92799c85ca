"""The exposition writer and the text-format parser: what ends up on the wire."""

from __future__ import annotations

import math

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text_pc

from exporters.core.metrics import (
    COUNTER,
    HISTOGRAM,
    MetricFamily,
    counter,
    format_le,
    format_value,
    gauge,
    merge,
    render_openmetrics,
    render_text,
)
from exporters.core.textparse import ParseError, parse_text


@pytest.mark.parametrize(
    "value,text",
    [
        (3611, "3611"),
        (3611.0, "3611"),
        (0.25, "0.25"),
        (1.5e300, "1.5e+300"),
        (2.466183e6, "2466183"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (-0.5, "-0.5"),
        (1e16, "1e+16"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


def test_label_values_and_help_are_escaped_and_readable_back():
    fam = gauge("x_info", "Help with \\ backslash\nand newline.", "path").family()
    fam.add(('C:\\dir "quoted"\nnext',), 1)
    out = render_text([fam])
    assert out.splitlines()[0] == "# HELP x_info Help with \\\\ backslash\\nand newline."
    parsed = list(parse_text_pc(out))[0]
    assert parsed.samples[0].labels["path"] == 'C:\\dir "quoted"\nnext'
    assert parsed.documentation == "Help with \\ backslash\nand newline."


def test_duplicate_series_are_dropped_and_counted():
    fam = gauge("g", "h", "a").family()
    fam.add(("1",), 1)
    fam.add(("1",), 2)
    fam.add(("2",), 3)
    assert [v for _, _, v in fam.samples] == [1, 3]
    assert fam.duplicates == 1
    merged, dropped = merge([fam])
    assert dropped == 1


def test_merge_joins_same_name_and_drops_type_conflicts_without_touching_inputs():
    a = gauge("m", "h", "k").family()
    a.add(("1",), 1)
    b = gauge("m", "other", "k").family()
    b.add(("1",), 9)  # duplicate of a's series
    b.add(("2",), 2)
    c = counter("m", "h").family()
    c.add((), 5)  # conflicting type
    merged, dropped = merge([a, b, c])
    assert len(merged) == 1 and [v for *_, v in merged[0].samples] == [1, 2]
    assert dropped == 2
    assert len(a.samples) == 1  # the input is unchanged (it may be shared by coalesced scrapes)


def test_empty_families_are_left_out():
    assert render_text([gauge("nothing", "h").family()]) == ""


def test_openmetrics_counter_naming_and_eof():
    total = counter("node_forks_total", "Forks.").family()
    total.add((), 10)
    bare = MetricFamily("legacy_counter", COUNTER, "No _total.")
    bare.add((), 3)
    g = MetricFamily("plain", "untyped", "u")
    g.add((), 1)
    out = render_openmetrics([total, bare, g])
    assert "# TYPE node_forks counter\nnode_forks_total 10\n" in out
    assert "# TYPE legacy_counter counter\nlegacy_counter_total 3\n" in out
    assert "# TYPE plain unknown\n" in out
    assert out.endswith("# EOF\n")
    names = {m.name for m in parse_om(out)}
    assert names == {"node_forks", "legacy_counter", "plain"}


def test_text_output_parses_back_to_same_samples():
    fam = gauge("node_filesystem_size_bytes", "Size.", "device", "fstype", "mountpoint").family()
    fam.add(("/dev/vda", "ext4", "/"), 270553174016)
    fam.add(("/dev/vdb", "xfs", "/data"), 1.5)
    parsed = list(parse_text_pc(render_text([fam])))[0]
    assert [(s.labels["mountpoint"], s.value) for s in parsed.samples] == [("/", 270553174016.0), ("/data", 1.5)]


# ---- text-format parser (textfile input) ---------------------------------------------------------


def test_parse_text_types_help_and_suffixes():
    fams = {
        f.name: f
        for f in parse_text(
            '# HELP a_total Things.\n# TYPE a_total counter\na_total{x="1"} 3\n'
            "# TYPE legacy counter\nlegacy 4\n"
            '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\n'
            '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 2\ns_count 3\n'
            'no_type{a="b",c="d\\"e\\\\f\\ng"} -Inf\n'
            "# a comment\n\n",
            default_help="from file",
        )
    }
    assert fams["a_total"].type == COUNTER and fams["a_total"].help == "Things."
    assert fams["legacy"].samples == [("legacy", "", 4.0)]  # a counter keeps its name, as in Go
    assert [n for n, _, _ in fams["h"].samples] == ["h_bucket", "h_bucket", "h_sum", "h_count"]
    assert fams["s"].type == "summary" and len(fams["s"].samples) == 3
    assert fams["no_type"].type == "untyped" and fams["no_type"].help == "from file"
    assert fams["no_type"].samples[0] == ("no_type", '{a="b",c="d\\"e\\\\f\\ng"}', -math.inf)
    assert render_text(fams.values())  # renders without error


@pytest.mark.parametrize(
    "text,needle",
    [
        ('metric{a="1" 1\n', "line 1"),
        ("metric 1 1700000000\n", "timestamp"),
        ("metric one\n", "invalid value"),
        ("metric 1_000\n", "invalid value"),
        ("# TYPE m gauge\n# TYPE m counter\nm 1\n", "second TYPE"),
        ("# TYPE m nonsense\n", "unknown metric type"),
        ("m 1\n# TYPE m gauge\n", "after its samples"),
        ('m{a="1"} 1\nm{a="1"} 2\n', "duplicate sample"),
        ("# TYPE h histogram\nh_bucket 1\n", "'le'"),
        ("9metric 1\n", "invalid metric name"),
        ('m{a="x\\q"} 1\n', "invalid escape"),
        ('m{a="1",a="2"} 1\n', "given twice"),
        ("m 1 2 3\n", "unexpected text"),
    ],
)
def test_parse_text_errors_name_the_line(text, needle):
    with pytest.raises(ParseError) as err:
        parse_text(text)
    assert needle in str(err.value)


# ---- histograms (user queries' HISTOGRAM columns) -------------------------------------------------


@pytest.mark.parametrize(
    "bound,text",
    [
        (1, "1"),
        (0.5, "0.5"),
        (300, "300"),
        (0, "0"),
        (-2.5, "-2.5"),
        (999999, "999999"),
        (1e6, "1e+06"),
        (1234567.5, "1.2345675e+06"),
        (0.0001, "0.0001"),
        (1e-05, "1e-05"),
        (1e21, "1e+21"),
        (1 / 3, "0.3333333333333333"),
        (math.inf, "+Inf"),
    ],
)
def test_format_le_is_gos_shortest_g(bound, text):
    assert format_le(bound) == text  # strconv.FormatFloat(bound, 'g', -1, 64), as client_golang writes le


def test_histogram_renders_as_go_and_parses_in_both_formats():
    fam = MetricFamily("pg_process_idle_seconds", HISTOGRAM, "Idle time.", ("application_name", "server"))
    fam.add_histogram(("psql", "h:5432"), [(5, 3), (1, 1), (2, 2)], 12.5, 4)
    fam.add_histogram(("app", "h:5432"), [(1, 0), (math.inf, 2)], 3.0, 2)  # +Inf given: not added twice
    text = render_text([fam])
    assert text == (
        "# HELP pg_process_idle_seconds Idle time.\n# TYPE pg_process_idle_seconds histogram\n"
        'pg_process_idle_seconds_bucket{application_name="psql",server="h:5432",le="1"} 1\n'
        'pg_process_idle_seconds_bucket{application_name="psql",server="h:5432",le="2"} 2\n'
        'pg_process_idle_seconds_bucket{application_name="psql",server="h:5432",le="5"} 3\n'
        'pg_process_idle_seconds_bucket{application_name="psql",server="h:5432",le="+Inf"} 4\n'
        'pg_process_idle_seconds_sum{application_name="psql",server="h:5432"} 12.5\n'
        'pg_process_idle_seconds_count{application_name="psql",server="h:5432"} 4\n'
        'pg_process_idle_seconds_bucket{application_name="app",server="h:5432",le="1"} 0\n'
        'pg_process_idle_seconds_bucket{application_name="app",server="h:5432",le="+Inf"} 2\n'
        'pg_process_idle_seconds_sum{application_name="app",server="h:5432"} 3\n'
        'pg_process_idle_seconds_count{application_name="app",server="h:5432"} 2\n'
    )
    for parsed in (list(parse_text_pc(text)), list(parse_om(render_openmetrics([fam])))):
        assert [(m.name, m.type) for m in parsed] == [("pg_process_idle_seconds", "histogram")]
        assert len(parsed[0].samples) == 10


def test_histogram_with_a_label_set_already_present_is_dropped_whole():
    fam = MetricFamily("h", HISTOGRAM, "h", ("k",))
    fam.add_histogram(("a",), [(1, 1)], 1, 1)
    fam.add_histogram(("a",), [(2, 1), (3, 1)], 1, 1)  # other bounds: merging would break the first
    assert [(n, b) for n, b, _ in fam.samples] == [
        ("h_bucket", '{k="a",le="1"}'),
        ("h_bucket", '{k="a",le="+Inf"}'),
        ("h_sum", '{k="a"}'),
        ("h_count", '{k="a"}'),
    ]
    assert fam.duplicates == 5
