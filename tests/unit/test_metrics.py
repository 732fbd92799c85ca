"""The exposition writer and the text-format parser: what ends up on the wire."""

from __future__ import annotations

import math

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text_pc

from exporters.core.metrics import (
    COUNTER, GAUGE, MetricFamily, counter, format_value, gauge, merge, render_openmetrics, render_text,
)
from exporters.core.textparse import ParseError, parse_text


@pytest.mark.parametrize("value,text", [
    (3611, "3611"), (3611.0, "3611"), (0.25, "0.25"), (1.5e300, "1.5e+300"), (2.466183e6, "2466183"),
    (math.nan, "NaN"), (math.inf, "+Inf"), (-math.inf, "-Inf"), (-0.5, "-0.5"), (1e16, "1e+16"),
])
def test_format_value(value, text):
    assert format_value(value) == text


def test_label_values_and_help_are_escaped_and_readable_back():
    fam = gauge("x_info", 'Help with \\ backslash\nand newline.', "path").family()
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
    fams = {f.name: f for f in parse_text(
        "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
        "# TYPE legacy counter\nlegacy 4\n"
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n"
        "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n"
        "no_type{a=\"b\",c=\"d\\\"e\\\\f\\ng\"} -Inf\n"
        "# a comment\n\n", default_help="from file")}
    assert fams["a_total"].type == COUNTER and fams["a_total"].help == "Things."
    assert fams["legacy"].samples == [("legacy", "", 4.0)]  # a counter keeps its name, as in Go
    assert [n for n, _, _ in fams["h"].samples] == ["h_bucket", "h_bucket", "h_sum", "h_count"]
    assert fams["s"].type == "summary" and len(fams["s"].samples) == 3
    assert fams["no_type"].type == "untyped" and fams["no_type"].help == "from file"
    assert fams["no_type"].samples[0] == ("no_type", '{a="b",c="d\\"e\\\\f\\ng"}', -math.inf)
    assert render_text(fams.values())  # renders without error


@pytest.mark.parametrize("text,needle", [
    ("metric{a=\"1\" 1\n", "line 1"),
    ("metric 1 1700000000\n", "timestamp"),
    ("metric one\n", "invalid value"),
    ("metric 1_000\n", "invalid value"),
    ("# TYPE m gauge\n# TYPE m counter\nm 1\n", "second TYPE"),
    ("# TYPE m nonsense\n", "unknown metric type"),
    ("m 1\n# TYPE m gauge\n", "after its samples"),
    ("m{a=\"1\"} 1\nm{a=\"1\"} 2\n", "duplicate sample"),
    ("# TYPE h histogram\nh_bucket 1\n", "'le'"),
    ("9metric 1\n", "invalid metric name"),
    ("m{a=\"x\\q\"} 1\n", "invalid escape"),
    ("m{a=\"1\",a=\"2\"} 1\n", "given twice"),
    ("m 1 2 3\n", "unexpected text"),
])
def test_parse_text_errors_name_the_line(text, needle):
    with pytest.raises(ParseError) as err:
        parse_text(text)
    assert needle in str(err.value)
