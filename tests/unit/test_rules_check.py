"""`flextime-exporter rules check`: metric names out of PromQL, who provides them, the report,
exit statuses 0/1/2 and the file:line of bad input."""

from __future__ import annotations

import io
import json

import pytest

from exporters import cli
from exporters.rules import (
    OTHER_PROVIDERS,
    Catalogue,
    PromQLError,
    check,
    classify,
    fleet_catalogue,
    other_provider,
    series_names,
    tokenize,
)

# ---- the tokenizer --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, names",
    [
        ("up", ["up"]),
        ("up == 0", ["up"]),
        ('pg_up{job="postgres", instance=~"db-.*"} == 0', ["pg_up"]),
        # binary operators with vector matching: label lists are not series
        (
            'sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / on(job) group_left(team) '
            "sum by (job) (rate(http_requests_total[5m])) > 0.05",
            ["http_requests_total"],
        ),
        (
            "pg_stat_activity_count / ignoring(state) group_right pg_settings_max_connections",
            ["pg_stat_activity_count", "pg_settings_max_connections"],
        ),
        ("a and on() b or c unless ignoring(x, y) d", ["a", "b", "c", "d"]),
        ("a > bool 1", ["a"]),
        # aggregations, with the clause before or after, any case
        ("sum(rate(node_cpu_seconds_total[1m])) by (instance, mode)", ["node_cpu_seconds_total"]),
        ('avg without (cpu) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))', ["node_cpu_seconds_total"]),
        ("SUM BY (job) (Foo)", ["Foo"]),
        ("topk(5, redis_db_keys)", ["redis_db_keys"]),
        ('count_values("version", flextime_exporter_build_info)', ["flextime_exporter_build_info"]),
        ("quantile(0.9, x) + stddev(y) + group(z) + limitk(2, w)", ["x", "y", "z", "w"]),
        # functions with numbers and nested aggregations
        ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))", ["x_bucket"]),
        (
            "histogram_quantile(0.95, sum by (le, queue) (rate(schedule_generation_duration_seconds_bucket[$__rate_interval])))",
            ["schedule_generation_duration_seconds_bucket"],
        ),
        ('vector(1) - time() + absent(missing_metric{job="x"}) + scalar(s)', ["missing_metric", "s"]),
        ("clamp_min(a, 0) * 100", ["a"]),
        # subqueries, offset, @
        ("max_over_time(rate(foo[5m])[1h:1m]) offset -1w", ["foo"]),
        ("rate(a[5m] offset 1h30m)", ["a"]),
        ("deriv(b[10m:]) > 0", ["b"]),
        ("foo @ start() + bar @ 1609746000 + baz @ end()", ["foo", "bar", "baz"]),
        # strings holding metric-like words are not series
        ('label_replace(up{job="node_exporter"}, "dst", "$1", "src", "node_cpu_(.*)")', ["up"]),
        ('label_join(x, "a", ",", \'node_load1\', `pg_up`)', ["x"]),
        ('sort_by_label(y, "redis_up")', ["y"]),
        # selectors by name
        ('{__name__="foo"}', ["foo"]),
        ('{__name__=~"a|b:c"} + {__name__=~"pg_.*"} + {__name__!="nope"}', ["a", "b:c"]),
        ('{"utf8.name", job="x"} + {"__name__"="quoted"}', ["utf8.name", "quoted"]),
        # Grafana template variables
        ('rate(x[$__rate_interval]) * on(${label}) y{instance=~"${instance}"}', ["x", "y"]),
        ("increase(z[$__range]) / $__range_s", ["z"]),
        ("node_${kind}_bytes + legacy_[[var]] + w[[[interval]]]", ["w"]),
        ('rate(q{job="$job"}[${interval:text}])', ["q"]),
        # numbers, durations, colons, comments
        ("a > 1e-3 + 0x1F + 1_000 + Inf - NaN + .5", ["a"]),
        ("job:http_errors:rate5m > 0", ["job:http_errors:rate5m"]),
        ("topk(5, q) # a comment with metric_in_comment\n + r", ["q", "r"]),
        ("x + x + x", ["x"]),
        ("", []),
    ],
)
def test_series_names(expr, names):
    assert series_names(expr) == names


@pytest.mark.parametrize(
    "expr, message",
    [
        ('up{job="x}', "unterminated string"),
        ("rate(x[5m]", "never closed"),
        ("x)", "unexpected ')'"),
        ('x{a="b"]', "unexpected ']'"),
        ("x ; y", "unexpected character ';'"),
    ],
)
def test_unreadable_expressions(expr, message):
    with pytest.raises(PromQLError, match=message.replace("(", r"\(").replace(")", r"\)")):
        series_names(expr)


def test_tokens_keep_template_variables_whole():
    kinds = [(t.kind, t.text) for t in tokenize("node_${x}_bytes[$__rate_interval] 1h30m 'it''s'")]
    assert kinds == [
        ("var", "node_${x}_bytes"),
        ("op", "["),
        ("var", "$__rate_interval"),
        ("op", "]"),
        ("num", "1h30m"),
        ("str", "'it'"),
        ("str", "'s'"),
    ]


# ---- who provides a name --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet() -> Catalogue:
    return fleet_catalogue()


@pytest.mark.parametrize(
    "name, who",
    [
        ("node_cpu_seconds_total", "node"),
        ("node_scrape_collector_success", "node"),
        ("pg_up", "postgres"),  # emitted by the session, not a collector
        ("pg_exporter_last_scrape_error", "postgres"),
        ("pg_static", "postgres"),
        ("redis_up", "redis"),
        ("redis_exporter_scrapes_total", "redis"),
        ("redis_exporter_scrape_duration_seconds_sum", "redis"),  # a summary
        ("redis_target_scrape_request_errors_total", "redis"),  # the probe-errors counter
        ("redis_commands_latencies_usec_bucket", "redis"),  # a histogram
        ("schedule_generation_failures_total", "scheduler"),
        ("schedule_generation_duration_seconds_bucket", "scheduler"),
        ("active_scheduling_sessions", "scheduler"),  # session_metrics
        ("scheduler_scrape_collector_duration_seconds", "scheduler"),
        ("process_cpu_seconds_total", "node, postgres, redis, scheduler"),
        ("flextime_exporter_build_info", "node, postgres, redis, scheduler"),
        ("promhttp_metric_handler_requests_total", "node, postgres, redis, scheduler"),
        # documented name patterns: the most specific template is named
        ("node_memory_MemAvailable_bytes", "node (node_memory_<Key>_bytes)"),
        ("pg_settings_max_connections", "postgres (pg_settings_<name>[_seconds|_bytes])"),
        ("pg_settings_shared_buffers_bytes", "postgres (pg_settings_<name>[_seconds|_bytes])"),
    ],
)
def test_fleet_provides(fleet, name, who):
    assert fleet.lookup(name) == who


@pytest.mark.parametrize("name", ["redis_commands_latencies_usec", "foo_bar", "pg_settings", "node_memory_"])
def test_fleet_does_not_provide(fleet, name):
    assert fleet.lookup(name) is None


def test_other_providers_are_a_short_explicit_list():
    assert len(OTHER_PROVIDERS) <= 8
    assert other_provider("http_requests_total") == "the application"
    assert other_provider("kube_pod_status_phase") == "kube-state-metrics"
    assert other_provider("up") == other_provider("ALERTS") == other_provider("scrape_samples_scraped") == "Prometheus"
    assert other_provider("upper") is None and other_provider("alerts") is None and other_provider("http") is None


def test_fleet_then_recording_rules_then_other_components():
    cat = Catalogue()
    cat.add("http_mine_total", "counter", "node")
    cat.add("my_latency_seconds", "histogram", "redis")
    uses = {
        n: ["f.yml:3"]
        for n in (
            "http_mine_total",
            "http_theirs_total",
            "job:x:rate5m",
            "my_latency_seconds",
            "my_latency_seconds_count",
            "nothing",
        )
    }
    got = {f.name: f.describe() for f in classify(uses, {"job:x:rate5m": "r.yml:7"}, cat)}
    assert got == {
        "http_mine_total": "node",
        "http_theirs_total": "other: the application",
        "job:x:rate5m": "recorded: r.yml:7",
        "my_latency_seconds": "MISSING (f.yml:3)",  # a histogram has no series under its bare name
        "my_latency_seconds_count": "redis",
        "nothing": "MISSING (f.yml:3)",
    }


# ---- files and the report -------------------------------------------------------------------------

RULES = """\
groups:
  - name: example
    rules:
      - record: job:http_errors:rate5m
        expr: sum by (job) (rate(http_requests_total{status=~"5.."}[5m]))
      - alert: DatabaseDown
        expr: pg_up == 0 or up{job="postgres"} == 0
        for: 1m
        labels: {severity: critical}
      - alert: HighErrorRate
        expr: |
          job:http_errors:rate5m
            / on(job) sum by (job) (rate(http_requests_total[5m])) > 0.05
"""


def dashboard(panels) -> str:
    return json.dumps({"title": "T", "uid": "t", "schemaVersion": 39, "panels": panels}, indent=2)


def run(*paths, catalogue=None):
    out, err = io.StringIO(), io.StringIO()
    status = check([str(p) for p in paths], out, err, catalogue=catalogue)
    return status, out.getvalue(), err.getvalue()


def test_report_lists_every_series_sorted_with_a_summary(tmp_path, fleet):
    (tmp_path / "a.yml").write_text(RULES)
    (tmp_path / "d.json").write_text(
        dashboard(
            [
                {
                    "type": "row",
                    "title": "Row",
                    "collapsed": True,
                    "panels": [
                        {
                            "type": "timeseries",
                            "title": "CPU",
                            "targets": [
                                {
                                    "refId": "A",
                                    "expr": 'rate(node_cpu_seconds_total{instance=~"$instance"}[$__rate_interval])',
                                }
                            ],
                        },
                    ],
                },
                {
                    "type": "stat",
                    "title": "Redis",
                    "targets": [
                        {"refId": "A", "expr": "redis_up"},
                        {"refId": "B"},  # no expr: skipped
                        {"refId": "C", "expr": '{job="x"} |= "e"', "datasource": {"type": "loki", "uid": "l"}},
                    ],
                },
                {"type": "text", "title": "Notes"},
            ]
        )
    )
    status, out, err = run(tmp_path, catalogue=fleet)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert [l.split()[0] for l in lines[:-1]] == sorted(
        ["http_requests_total", "job:http_errors:rate5m", "node_cpu_seconds_total", "pg_up", "redis_up", "up"]
    )
    table = {l.split()[0]: l.split(None, 1)[1] for l in lines[:-1]}
    assert table == {
        "http_requests_total": "other: the application",
        "job:http_errors:rate5m": f"recorded: {tmp_path / 'a.yml'}:4",
        "node_cpu_seconds_total": "node",
        "pg_up": "postgres",
        "redis_up": "redis",
        "up": "other: Prometheus",
    }
    # the names line up in one column
    assert len({len(l) - len(table[l.split()[0]]) for l in lines[:-1]}) == 1
    assert lines[-1] == (
        "6 series in 2 files: 3 from the fleet, 1 recorded by rules, 2 from other components, 0 MISSING"
    )


def test_missing_series_exit_1_and_say_where(tmp_path, fleet):
    f = tmp_path / "x.yml"
    f.write_text(RULES + "      - alert: Nope\n        expr: foo_bar > 0 and pg_up == 1\n")
    status, out, _ = run(f, catalogue=fleet)
    assert status == 1
    assert f"foo_bar                 MISSING ({f}:15)" in out.splitlines()
    assert out.splitlines()[-1].endswith("1 MISSING")


def test_a_dashboard_without_targets(tmp_path, fleet):
    f = tmp_path / "empty.json"
    f.write_text(dashboard([{"type": "text", "title": "hello"}, {"type": "row", "title": "r", "panels": []}]))
    assert run(f, catalogue=fleet) == (
        0,
        "0 series in 1 file: 0 from the fleet, 0 recorded by rules, 0 from other components, 0 MISSING\n",
        "",
    )
    g = tmp_path / "nopanels.json"
    g.write_text(json.dumps({"uid": "x", "schemaVersion": 39}))
    assert run(g, catalogue=fleet)[0] == 0


def test_legacy_rows_and_the_api_wrapper(tmp_path, fleet):
    f = tmp_path / "old.json"
    f.write_text(
        json.dumps(
            {"dashboard": {"rows": [{"panels": [{"title": "p", "targets": [{"expr": "node_load1"}]}]}]}, "meta": {}}
        )
    )
    status, out, _ = run(f, catalogue=fleet)
    assert status == 0 and out.startswith("node_load1  node\n")


def test_walked_directories_skip_other_yaml_but_named_files_do_not(tmp_path, fleet):
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    (tmp_path / "targets.yaml").write_text("- targets: [a:9100]\n")
    (tmp_path / "notes.txt").write_text("not looked at")
    status, out, err = run(tmp_path, catalogue=fleet)
    assert status == 0 and "in 1 file:" in out
    assert err.splitlines() == [
        f"skipped {tmp_path / 'prometheus.yml'}: not a Prometheus rule file or Grafana dashboard",
        f"skipped {tmp_path / 'targets.yaml'}: not a Prometheus rule file or Grafana dashboard",
    ]


# ---- bad input: one line naming the file and line, exit status 2 ----------------------------------


def run_main(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cli.main(["rules", "check", *map(str, args)])
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


@pytest.mark.parametrize(
    "name, text, where, needle",
    [
        (
            "broken.yml",
            "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up\n       bad: [\n",
            ":6:",
            "not valid YAML",
        ),
        ("tabs.yml", "groups:\n\t- name: x\n", ":2:", "not valid YAML"),
        ("prometheus.yml", "# a comment\nglobal:\n  scrape_interval: 15s\n", ":2:", "not a Prometheus rule file"),
        ("list.yml", "- a\n- b\n", ":1:", "the document is a list"),
        ("empty.yml", "", ":1:", "an empty document"),
        ("script.yml", "#!/bin/sh\necho hi\n", ":2:", "a single value"),
        ("groups.yml", "groups: {a: 1}\n", ":1:", "'groups' is not a list"),
        ("noname.yml", "groups:\n  - rules: []\n", ":2:", "no 'name'"),
        ("rule.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        for: 5m\n", ":4:", "has no 'expr'"),
        (
            "both.yml",
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: b\n        expr: up\n",
            ":4:",
            "exactly one of 'alert' and 'record'",
        ),
        (
            "badexpr.yml",
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          up == 0\n"
            '          and foo{a="b\n',
            ":7:",
            "alert A: cannot read the expression: unterminated string",
        ),
        (
            "mapexpr.yml",
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr:\n          a: 1\n",
            ":5:",
            "'expr' is not a string",
        ),
        ("truncated.json", '{"panels": [\n  {"title": "x"}', ":2:", "not valid JSON"),
        ("notdash.json", '{\n  "foo": 1,\n  "bar": [1, 2]\n}\n', ":1:", "not a Prometheus rule file"),
        ("array.json", "\n[1, 2]\n", ":2:", "the document is a list"),
        ("panelsobj.json", '{"schemaVersion": 39,\n "panels": {"a": 1}}', ":2:", "'panels' is not a list"),
        (
            "targets.json",
            '{"panels": [\n {"title": "p",\n  "targets": [\n   "up"]}]}',
            ":3:",
            "a target is not an object",
        ),
        (
            "badexpr.json",
            '{"panels": [\n {"title": "x",\n  "targets": [\n   {"refId": "A",\n    "expr": "rate(x[5m]"}]}]}',
            ":5:",
            "panel 'x' target A: cannot read the expression",
        ),
        ("binary.json", b"\n\n\x89PNG\x00\xff", ":3:", "not UTF-8"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, capsys, name, text, where, needle):
    f = tmp_path / name
    if isinstance(text, bytes):
        f.write_bytes(text)
    else:
        f.write_text(text)
    status, out, err = run_main(capsys, f)
    assert status == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"flextime-exporter rules check: error: {f}{where}"), lines[0]
    assert needle in lines[0]
    assert "Traceback" not in err and out == ""


def test_bad_file_in_a_directory_is_still_an_error(tmp_path, capsys):
    (tmp_path / "ok.yml").write_text(RULES)
    (tmp_path / "broken.json").write_text("{")
    status, _, err = run_main(capsys, tmp_path)
    assert status == 2 and f"{tmp_path / 'broken.json'}:1: not valid JSON" in err


def test_missing_file_and_missing_arguments(tmp_path, capsys):
    status, _, err = run_main(capsys, tmp_path / "nope.yml")
    assert (
        status == 2
        and err == f"flextime-exporter rules check: error: {tmp_path / 'nope.yml'}: no such file or directory\n"
    )
    with pytest.raises(SystemExit) as exc:
        cli.main(["rules", "check"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("flextime-exporter rules check: error: Missing argument")
    with pytest.raises(SystemExit) as exc:
        cli.main(["rules"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("flextime-exporter rules: error: missing command")


def test_exit_statuses_through_the_cli(tmp_path, capsys):
    good = tmp_path / "good.yml"
    good.write_text(RULES)
    assert run_main(capsys, good)[0] == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: nothing_provides_this\n")
    status, out, _ = run_main(capsys, good, bad)
    assert status == 1 and f"nothing_provides_this   MISSING ({bad}:5)" in out.splitlines()
