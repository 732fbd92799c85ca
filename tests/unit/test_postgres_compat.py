"""--constantLabels, --metric-prefix and their relabelling of a scrape's families."""

import pytest

from exporters.core.errors import ConfigError
from exporters.core.metrics import GAUGE, HISTOGRAM, MetricFamily, render_text
from exporters.postgres.compat import constant_labels, metric_prefix, relabel


def test_constant_labels_parse():
    assert constant_labels("env=prod, team=db", set()) == (("env", "prod"), ("team", "db"))
    assert constant_labels("", set()) == ()


@pytest.mark.parametrize(
    "text,needle",
    [
        ("foo", "expected label=value"),
        ("1x=y", "not a valid label name"),
        ("__x=y", "not a valid label name"),
        ("datname=x", "already used"),
        ("server=x", "already used"),
        ("collector=x", "already used"),
        ("a=1,a=2", "given twice"),
    ],
)
def test_constant_labels_refused(text, needle):
    with pytest.raises(ConfigError, match=needle):
        constant_labels(text, {"datname"})


def test_metric_prefix():
    assert metric_prefix(None) == "pg" and metric_prefix("pgsql:x") == "pgsql:x"
    with pytest.raises(ConfigError, match="not a metric name prefix"):
        metric_prefix("1-x")


def test_relabel_adds_labels_and_renames_including_histograms():
    up = MetricFamily("pg_up", GAUGE, "up")
    up.add((), 1)
    hist = MetricFamily("pg_process_idle_seconds", HISTOGRAM, "idle", ("state",))
    hist.add_histogram(("idle",), [(1.0, 2)], 3.0, 2)
    text = render_text(relabel([up, hist], (("env", 'a"b'),), "pgsql"))
    assert 'pgsql_up{env="a\\"b"} 1\n' in text
    assert 'pgsql_process_idle_seconds_bucket{state="idle",le="1",env="a\\"b"} 2\n' in text
    assert 'pgsql_process_idle_seconds_count{state="idle",env="a\\"b"} 2\n' in text
    assert "pg_" not in text.replace("pgsql_", "")
    assert relabel([up], (), "pg")[0] is up  # nothing given: nothing copied
