"""Each exporter's --help groups its options under headings, the exporter's own (target) flags
first, then collectors, web and logging, instead of one flat list of 200-300 lines."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import ROOT, exporter_cmd

from exporters.cli import load_spec


def headings_and_flags(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:$", line):
            current = line[:-1]
            out[current] = []
        elif current and (m := re.match(r"^  (?:-[a-z][\w.-]*, )?(--[a-z][\w.-]*)", line)):  # "-go-name, --name"
            out[current].append(m.group(1))
    return out


@pytest.mark.parametrize("name", ["node", "postgres", "redis", "scheduler"])
def test_help_is_grouped_with_the_exporters_own_flags_first(name):
    proc = subprocess.run(exporter_cmd(name, "--help"), capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    groups = headings_and_flags(proc.stdout)
    assert list(groups)[:4] == ["Target", "Collectors", "Web", "Logging"], list(groups)
    spec = load_spec(name)
    assert groups["Target"] == [f.flag for f in spec.flags]  # e.g. postgres' --dsn first, not after 11 others
    assert groups["Collectors"][0] == "--collector.disable-defaults"
    collectors = {"--collector.disable-defaults"}
    for cls in spec.collectors:  # each collector's toggle, then its own flags (redis: --check-keys, ...)
        collectors |= {f"--collector.{cls.name}", *(f.flag for f in cls.flags)}
    assert set(groups["Collectors"]) == collectors
    assert (
        all(f.startswith(("--web.", "--scrape.", "--probe.")) for f in groups["Web"])
        and "--web.listen-address" in groups["Web"]
    )
    assert groups["Logging"] == ["--log.level", "--log.format"]
