"""Generate README.md's flag table and metric reference from the code itself.

    python -m exporters.docs           # rewrite the generated sections of README.md
    python -m exporters.docs --check   # exit 1 when README.md is out of date (the test suite runs this)

Sections live between ``<!-- generated:KEY:begin -->`` and ``<!-- generated:KEY:end -->``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .catalogue import EXPORTERS, load_spec
from .core.runtime import common_flags, envvar, envvars

README = Path(__file__).resolve().parent.parent / "README.md"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def flag_table(name: str) -> str:
    spec = load_spec(name)
    rows = ["| flag | environment variable | default | meaning |", "| --- | --- | --- | --- |"]

    def row(flag, default, help_text, aliases=(), env=None):
        if aliases:
            help_text += " Also accepted as " + ", ".join(f"`{a}`" for a in aliases) + "."
        shown = ", ".join(default) if isinstance(default, tuple) else ("" if default is None else default)
        names = env or [envvar(spec, flag.split('/')[0])]
        rows.append(f"| `{flag}` | {', '.join(f'`{n}`' for n in names)} | {_cell(shown)} | {_cell(help_text)} |")

    for f in (*common_flags(spec), *spec.flags):
        if f.dest.startswith("ignored_"):  # accepted for compatibility only: listed in docs/<exporter>.md
            continue
        row(f.flag + (f"/--no-{f.flag[2:]}" if f.type is bool else ""), f.default, f.help, env=envvars(spec, f))
    for cls in spec.collectors:
        row(f"--collector.{cls.name}/--no-collector.{cls.name}", "on" if cls.default_enabled else "off",
            cls.description)
        for f in cls.flags:
            row(f.flag + (f"/--no-{f.flag[2:]}" if f.type is bool else ""), f.default, f.help, f.aliases,
                envvars(spec, f))
    return "\n".join(rows)


def metric_reference(name: str) -> str:
    spec = load_spec(name)
    rows = ["| collector | metric | type | labels | help |", "| --- | --- | --- | --- | --- |"]
    by_def: dict = {}  # a family several collectors share (the scheduler's queue gauges) is one row
    for owner, d in EXPORTERS[name].metric_defs():
        by_def.setdefault(d, []).append(owner)
    for d, owners in by_def.items():
        rows.append(f"| {', '.join(owners)} | `{d.name}` | {d.type} | {_cell(', '.join(d.labels))} | {_cell(d.help)} |")
    ns = spec.namespace
    rows.append(f"| (every collector) | `{ns}_scrape_collector_success` | gauge | collector | Whether a collector succeeded. |")
    rows.append(f"| (every collector) | `{ns}_scrape_collector_duration_seconds` | gauge | collector | "
                "Duration of a collector scrape. |")
    return "\n".join(rows)


def sections() -> dict[str, str]:
    out = {}
    for name in EXPORTERS:
        out[f"flags:{name}"] = flag_table(name)
        out[f"metrics:{name}"] = metric_reference(name)
    return out


def render(readme: str) -> str:
    for key, body in sections().items():
        pattern = re.compile(rf"(<!-- generated:{re.escape(key)}:begin -->\n).*?(<!-- generated:{re.escape(key)}:end -->)",
                             re.S)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no generated section {key!r}")
        readme = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), readme)  # noqa: B023 (used at once)
    return readme


def main(argv: list[str]) -> int:
    current = README.read_text()
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print("README.md is out of date: run `python -m exporters.docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
