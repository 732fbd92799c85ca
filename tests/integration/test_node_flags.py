"""Every flag node_exporter 1.9's `--help` lists (and 1.5's spellings, from Debian 12's 1.5 `--help`) is accepted
by `flextime-exporter node`: the flags are read from both binaries at run time, and ours is started with every
one of them, each with a valid value, and serves. A flag we accept without acting on it is named by exactly one
warning line."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import ROOT, exporter_cmd, newer_go_binary, require_program, start_exporter

# Flags of collectors still being built elsewhere (empty: every 1.9 collector is in).
FLAGS_OF_COLLECTORS_OTHER_HELPERS_BUILD: set[str] = set()

# flags that end the program (checked below) or that the start-up test cannot give as-is, with where they are tested
NOT_IN_THE_START_UP = {
    "--help": "prints help and exits",
    "--help-long": "prints help and exits",
    "--help-man": "prints help and exits",
    "--version": "prints the version and exits",
    "--web.listen-address": "given by the test's start_exporter (a free loopback port)",
    "--web.systemd-socket": "needs sockets passed by systemd: tests/integration/test_systemd_socket.py",
}

# "--flag=VALUE" or "--flag" at the start of a help line (kingpin's layout: "  -h, --help", "      --flag"; the
# wrapped help text below is indented further and may mention flags too)
HELP_LINE = re.compile(r"^  (?:-\w, |    )(--[A-Za-z0-9_.\-]+)(?:=(\"(?:[^\"\\]|\\.)*\"|\S+))?")


def go_flags(binary: str) -> dict[str, str | None]:
    """{flag: default or placeholder (None for a boolean flag)} from ``binary --help``."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    text = out.stdout + out.stderr
    flags = {}
    for line in text.splitlines():
        m = HELP_LINE.match(line)
        if m:
            flags[m.group(1)] = m.group(2)
    assert len(flags) > 100, text[:500]
    return flags


@pytest.fixture(scope="module")
def reference_flags() -> dict[str, str | None]:
    flags = go_flags(require_program("prometheus-node-exporter"))  # Debian 12's 1.5
    flags.update(go_flags(newer_go_binary("prometheus-node-exporter")))  # 1.9 (its defaults win)
    return flags


def accepted_by_ours() -> set[str]:
    """Every spelling our click command takes for the node exporter."""
    from exporters.core.runtime import build_command
    from exporters.node import SPEC

    command = build_command(SPEC)
    ctx = command.make_context("node", ["--help"], resilient_parsing=True)
    names = set(ctx.help_option_names)
    for p in command.params:
        names.update(p.opts)
        names.update(p.secondary_opts)
    return names


def test_every_flag_is_accepted(reference_flags):
    ours = accepted_by_ours()
    missing = sorted(set(reference_flags) - ours - FLAGS_OF_COLLECTORS_OTHER_HELPERS_BUILD)
    assert not missing, f"node_exporter flags ours does not accept: {missing}"
    done = sorted(FLAGS_OF_COLLECTORS_OTHER_HELPERS_BUILD & ours)
    assert not done, f"accepted now: remove from FLAGS_OF_COLLECTORS_OTHER_HELPERS_BUILD: {done}"
    stale = sorted(FLAGS_OF_COLLECTORS_OTHER_HELPERS_BUILD - set(reference_flags))
    assert not stale, f"not node_exporter flags: {stale}"


def value_for(flag: str, shown: str | None, tree, textfiles) -> str | None:
    """A valid value for one flag: its default as node_exporter shows it, or one that fits the flag."""
    if flag.startswith("--path."):
        return {
            "--path.procfs": str(tree / "proc"),
            "--path.sysfs": str(tree / "sys"),
            "--path.rootfs": "/",
            "--path.udev.data": str(tree / "udev" / "data"),
        }[flag]
    if flag == "--collector.textfile.directory":
        return str(textfiles)
    if flag == "--web.config.file":
        return ""  # node_exporter's default: no web config
    if shown is None:
        return None
    if shown.startswith('"'):
        return shown[1:-1].encode().decode("unicode_escape")  # Go's quoting: \\ for \
    if shown.isupper() or shown.replace(".", "").replace("-", "").replace("_", "").isupper():
        return ".*"  # a placeholder (COLLECTOR.ARP.DEVICE-INCLUDE): every one of these takes a regexp or a name
    return shown


def argv(reference_flags, tree, textfiles, twin: str) -> list[str]:
    """Every flag with a value; of a mutually exclusive -include/-exclude pair only the ``twin`` side."""
    out = []
    for flag, shown in sorted(reference_flags.items()):
        if flag in NOT_IN_THE_START_UP or flag in FLAGS_OF_COLLECTORS_OTHER_HELPERS_BUILD:
            continue
        for mine, other in (("-include", "-exclude"), ("-exclude", "-include")):
            if flag.endswith(mine) and mine != twin and flag[: -len(mine)] + other in reference_flags:
                break
        else:
            value = value_for(flag, shown, tree, textfiles)
            out.append(flag if value is None else f"{flag}={value}")
    return out


@pytest.mark.parametrize("twin", ["-include", "-exclude"])
def test_starts_and_serves_with_every_flag(reference_flags, node_fixture_tree, tmp_path, twin):
    from exporters.node import IGNORED

    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    args = argv(reference_flags, node_fixture_tree, textfiles, twin)
    assert len(args) > 100
    exp = start_exporter(
        tmp_path, *args, env={"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}, wait_path="/metrics"
    )
    try:
        resp = exp.get()
        assert resp.status == 200
        # --web.disable-exporter-metrics is among the flags: only the collectors' series
        assert 'node_scrape_collector_success{collector="interrupts"} 1' in resp.text
        assert "node_exporter_build_info" not in resp.text
        log = exp.log()
        given = {a.partition("=")[0]: a.partition("=")[2] for a in args}
        for item in IGNORED:
            # named when turned on (a bare boolean flag) or given a value that asks for something
            turned_on = item.flag in given and (item.kind is bool or given[item.flag] != "")
            count = log.count(f"{item.flag} is accepted but ignored")
            assert count == (1 if turned_on else 0), (item.flag, count)
    finally:
        exp.stop()


@pytest.mark.parametrize("flag", ["--help", "--help-long", "--help-man", "--version"])
def test_flags_that_end_the_program(flag):
    proc = subprocess.run(exporter_cmd("node", flag), capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert ("flextime-exporter node, version" if flag == "--version" else "--collector.systemd") in proc.stdout


def test_ignored_flags_are_listed_in_the_node_docs():
    from exporters.node import IGNORED

    docs = (ROOT / "docs" / "node.md").read_text()
    missing = [i.flag for i in IGNORED if f"`{i.flag}`" not in docs]
    assert not missing, missing
