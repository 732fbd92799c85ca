"""The alert rules we ship (deploy/prometheus/alerts/*.yml), checked with Debian's promtool.

- ``promtool check rules`` accepts every rule file.
- ``promtool test rules`` passes every unit-test file in tests/deploy/rules/, and those files
  hold, for EVERY alert, a series history that fires it and one (just under the threshold, or
  not long enough) that does not.
- The seed's defects are gone: the same series histories, run against the seed's own rule
  (tests/data/seed-alerts/, copied from shared/reference/seed-alerts/), make promtool fail for
  HighErrorRate, DatabaseConnectionsHigh and ConstraintViolationSpike, while ours pass.
- Every alert has summary, description, a runbook_url whose page exists in docs/runbooks/, and a
  severity; the seed's alert names, severities and `for` durations are kept, in the seed's files.
- Every series an expression uses is one our exporters expose (README's generated metric
  reference, and the exporters' MetricDefs), or another component's: the app's http_*, kube-state-metrics' kube_*, Prometheus' up."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, require_program

ALERTS_DIR = ROOT / "deploy" / "prometheus" / "alerts"
TESTS_DIR = ROOT / "tests" / "deploy" / "rules"
SEED_DIR = ROOT / "tests" / "data" / "seed-alerts"
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_BASE = "https://github.com/flextime/flextime-exporters/blob/main/docs/runbooks/"
SEED_FILES = ("infrastructure.yml", "database.yml", "application.yml")
SEVERITIES = {"critical", "warning"}

RULE_FILES = sorted(ALERTS_DIR.glob("*.yml"))
TEST_FILES = sorted(TESTS_DIR.glob("*.test.yml"))


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _alerts(path: Path) -> list[dict]:
    return [rule for group in _load(path)["groups"] for rule in group["rules"] if "alert" in rule]


def all_alerts() -> dict[str, tuple[Path, dict]]:
    found: dict[str, tuple[Path, dict]] = {}
    for path in RULE_FILES:
        for rule in _alerts(path):
            assert rule["alert"] not in found, f"alert {rule['alert']} defined twice"
            found[rule["alert"]] = (path, rule)
    return found


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = require_program("promtool")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_the_files_are_there():
    assert {p.name for p in RULE_FILES} >= set(SEED_FILES) | {"redis.yml", "scheduler.yml", "exporters.yml"}
    assert {p.name.removesuffix(".test.yml") for p in TEST_FILES} == {p.stem for p in RULE_FILES}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path):
    res = promtool("check", "rules", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests(path):
    res = promtool("test", "rules", path.name, cwd=path.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    """Each alert: one alert_rule_test expecting it to fire, one expecting it quiet."""
    firing: dict[str, int] = {}
    quiet: dict[str, int] = {}
    for path in TEST_FILES:
        doc = _load(path)
        rule_files = {(path.parent / f).resolve() for f in doc["rule_files"]}
        names = {rule["alert"] for f in rule_files for rule in _alerts(f)}
        for group in doc["tests"]:
            for case in group.get("alert_rule_test", []):
                name = case["alertname"]
                assert name in names, f"{path.name}: {name} is not in {sorted(rule_files)}"
                target = firing if case.get("exp_alerts") else quiet
                target[name] = target.get(name, 0) + 1
    alerts = set(all_alerts())
    assert alerts - set(firing) == set(), "alerts without a unit test that fires them"
    assert alerts - set(quiet) == set(), "alerts without a unit test that keeps them quiet"


def test_every_alert_has_annotations_runbook_and_severity():
    for name, (path, rule) in all_alerts().items():
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert ann.get(key, "").strip(), f"{path.name}: {name} has no {key}"
        assert ann["runbook_url"] == f"{RUNBOOK_BASE}{name}.md", f"{name}: {ann['runbook_url']}"
        page = RUNBOOKS / f"{name}.md"
        assert page.is_file(), f"{name}: {page} is missing"
        text = page.read_text()
        assert text.startswith(f"# {name}\n"), f"{page} should start with '# {name}'"
        assert "```promql" in text or "```sh" in text, f"{page} shows no way to check"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity"
        assert rule.get("for"), f"{name}: no `for`"


def test_every_runbook_belongs_to_an_alert():
    alerts = set(all_alerts())
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert pages - alerts == set(), "runbook pages without an alert"


@pytest.mark.parametrize("filename", SEED_FILES)
def test_seed_names_severities_and_for_kept(filename):
    ours = {rule["alert"]: rule for rule in _alerts(ALERTS_DIR / filename)}
    seed = _alerts(SEED_DIR / filename)
    assert seed, f"no seed alerts in {SEED_DIR / filename}"
    for rule in seed:
        name = rule["alert"]
        assert name in ours, f"{filename}: the seed's {name} is missing"
        assert ours[name]["labels"]["severity"] == rule["labels"]["severity"], name
        assert ours[name]["for"] == rule["for"], name
    # and the seed's files gained no extra alerts: new ones live in their own files
    assert set(ours) == {rule["alert"] for rule in seed}


# The seed's defects, shown on the same series histories as our unit tests. The rule files are
# stripped to expr, for and labels (the annotations differ on purpose, and would fail promtool's
# comparison by themselves), so only the expression decides.
SEED_BUGS = [
    # name, file, the unit-test groups (by name prefix) the seed's expression must fail, and what
    # promtool's report then shows: per-series alerts (each erroring series at ratio 1), no alert
    # at all (no label set matched), an evaluation error (its severity label overwritten)
    ("HighErrorRate", "application.yml", ("HighErrorRate fires", "HighErrorRate quiet"), 'status_code="5'),
    ("DatabaseConnectionsHigh", "database.yml", ("DatabaseConnectionsHigh fires",), "got:[]"),
    ("ConstraintViolationSpike", "application.yml", ("ConstraintViolationSpike fires",), "same labelset"),
]


def _stripped_rule_file(rule: dict, dest: Path) -> Path:
    rule = {k: copy.deepcopy(v) for k, v in rule.items() if k in ("alert", "expr", "for", "labels")}
    dest.write_text(yaml.safe_dump({"groups": [{"name": "under-test", "rules": [rule]}]}, sort_keys=False))
    return dest


def _run_group(group: dict, rule_file: Path, tmp: Path, tag: str) -> subprocess.CompletedProcess:
    group = copy.deepcopy(group)
    for case in group.get("alert_rule_test", []):
        for alert in case.get("exp_alerts") or []:
            alert.pop("exp_annotations", None)
    test_file = tmp / f"{tag}.test.yml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": [rule_file.name], "evaluation_interval": "1m", "tests": [group]}, sort_keys=False)
    )
    return promtool("test", "rules", test_file.name, cwd=tmp)


@pytest.mark.parametrize("name,filename,must_fail,shows", SEED_BUGS, ids=[b[0] for b in SEED_BUGS])
def test_seed_expression_fails_where_ours_passes(name, filename, must_fail, shows, tmp_path):
    seed_rule = next(r for r in _alerts(SEED_DIR / filename) if r["alert"] == name)
    our_rule = next(r for r in _alerts(ALERTS_DIR / filename) if r["alert"] == name)
    assert seed_rule["expr"].strip() != our_rule["expr"].strip()
    seed_file = _stripped_rule_file(seed_rule, tmp_path / "seed.yml")
    ours_file = _stripped_rule_file(our_rule, tmp_path / "ours.yml")
    groups = [
        g for g in _load(TESTS_DIR / filename.replace(".yml", ".test.yml"))["tests"] if g["name"].startswith(f"{name} ")
    ]
    assert {prefix for prefix in must_fail if any(g["name"].startswith(prefix) for g in groups)} == set(must_fail)
    for i, group in enumerate(groups):
        ours = _run_group(group, ours_file, tmp_path, f"ours-{i}")
        assert ours.returncode == 0, f"ours, {group['name']}:\n{ours.stdout}{ours.stderr}"
        seed = _run_group(group, seed_file, tmp_path, f"seed-{i}")
        if group["name"].startswith(must_fail):
            assert seed.returncode != 0, f"the seed's {name} passed {group['name']!r}:\n{seed.stdout}"
            assert "FAILED" in seed.stdout + seed.stderr, seed.stdout + seed.stderr
            assert shows in seed.stdout + seed.stderr, seed.stdout + seed.stderr


# the generated metric references (docs/reference/*.md): every family each exporter exposes
_REF_ROW = re.compile(r"^\| [^|]+ \| `([^`]+)` \|", re.M)
_OTHER_COMPONENTS = re.compile(r"^(http_|kube_)|^up$")
_NOT_NAMES = {
    "by",
    "on",
    "without",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "rate",
    "increase",
    "deriv",
    "delta",
    "histogram_quantile",
    "label_replace",
    "abs",
    "time",
}


def _reference_patterns() -> list[re.Pattern]:
    text = "\n".join(p.read_text() for p in sorted((ROOT / "docs" / "reference").glob("*.md")))
    pats = []
    # families the reference tables leave out (the sessions' pg_up, redis_up): the exporters' MetricDefs
    for src in (ROOT / "exporters").rglob("*.py"):
        for name in re.findall(r'MetricDef\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"', src.read_text()):
            pats.append(re.compile(re.escape(name) + "$"))
    for name in _REF_ROW.findall(text):
        rx = re.escape(name)
        rx = re.sub(r"\\\[(.*?)\\\]", lambda m: "(" + m.group(1).replace("\\|", "|") + ")?", rx)
        rx = re.sub(r"<[^>]*>", ".+", rx.replace("\\<", "<").replace("\\>", ">"))
        pats.append(re.compile(rx + r"$"))
    return pats


def _series_names(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values and label_replace arguments
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # matchers
    expr = re.sub(r"\b(by|on|without|ignoring)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        word = m.group(0)
        after = expr[m.end() :].lstrip()
        if word in _NOT_NAMES or after.startswith("("):
            continue
        if re.fullmatch(r"[0-9.e+-]+", word):
            continue
        names.add(word)
    return names


def test_every_series_is_exposed_by_the_fleet_or_another_component():
    patterns = _reference_patterns()
    assert len(patterns) > 300, "the generated metric references (docs/reference/) not found"
    used = {}
    for name, (_path, rule) in all_alerts().items():
        for series in _series_names(rule["expr"]):
            used.setdefault(series, []).append(name)
    assert {
        "pg_up",
        "redis_up",
        "scheduler_up",
        "pg_stat_database_numbackends",
        "http_requests_total",
        "scheduler_queue_workers",
    } <= set(used)
    missing = {
        s: alerts
        for s, alerts in used.items()
        if not _OTHER_COMPONENTS.search(s) and not any(p.match(s) for p in patterns)
    }
    assert missing == {}, f"series no exporter of ours exposes: {missing}"
