"""Rule files (YAML) and Grafana dashboards (JSON) read with the line of every mapping, so that
bad input is reported as ``file:line``; the expressions they hold, with where each is."""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from json import decoder as _json_decoder
from json import scanner as _json_scanner
from pathlib import Path
from typing import Iterable, Iterator, TypeGuard

from ..core.errors import ConfigError

SUFFIXES = (".yml", ".yaml", ".json")


class _Map(dict):
    """A mapping that knows the line it starts on and, for YAML, where each key and value is."""

    line: int = 1
    pos: int | None = None  # JSON: offset of "{"
    text: str | None = None  # JSON: the whole document, to find a key's line
    key_lines: dict | None = None  # YAML: key -> (key line, value line, value style)


class _Seq(list):
    line: int = 1


def _is_map(node) -> TypeGuard[_Map]:
    """A mapping of the document (the loaders make every mapping a _Map)."""
    return isinstance(node, dict)


def _is_seq(node) -> TypeGuard[_Seq]:
    """A list of the document (the loaders make every list a _Seq)."""
    return isinstance(node, list)


def _line_of_key(m: _Map, key: str) -> int:
    if m.key_lines is not None and key in m.key_lines:
        return m.key_lines[key][0]
    if m.text is not None and m.pos is not None:
        at = m.text.find(json.dumps(key), m.pos)
        if at >= 0:
            return m.text.count("\n", 0, at) + 1
    return m.line


def _yaml_loader():
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    def mapping(loader, node):
        m = _Map()
        m.line = node.start_mark.line + 1
        m.key_lines = {}
        yield m
        m.update(loader.construct_mapping(node))
        for k, v in node.value:
            if isinstance(k.value, str):
                m.key_lines[k.value] = (k.start_mark.line + 1, v.start_mark.line + 1, getattr(v, "style", None))

    def sequence(loader, node):
        s = _Seq()
        s.line = node.start_mark.line + 1
        yield s
        s.extend(loader.construct_sequence(node))

    Loader.add_constructor("tag:yaml.org,2002:map", mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", sequence)
    return Loader


def _load_yaml(path: str, text: str):
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"{path}:{line}: not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}:1: not valid YAML: {str(exc).splitlines()[0]}") from None


def _load_json(path: str, text: str):
    newlines = [k for k, c in enumerate(text) if c == "\n"]

    class Decoder(json.JSONDecoder):
        def __init__(self) -> None:
            super().__init__()

            def parse_object(s_and_end, *args):
                start = s_and_end[1] - 1  # the "{"
                obj, end = _json_decoder.JSONObject(s_and_end, *args)
                m = _Map(obj)
                m.line, m.pos, m.text = bisect.bisect_left(newlines, start) + 1, start, text
                return m, end

            def parse_array(s_and_end, scan_once):
                start = s_and_end[1] - 1
                arr, end = _json_decoder.JSONArray(s_and_end, scan_once)
                s = _Seq(arr)
                s.line = bisect.bisect_left(newlines, start) + 1
                return s, end

            self.parse_object = parse_object
            self.parse_array = parse_array
            self.scan_once = _json_scanner.py_make_scanner(self)  # type: ignore[attr-defined]

    try:
        return Decoder().decode(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{path}:1: not valid JSON: nested too deeply") from None


# ---- rule files and dashboards --------------------------------------------------------------------


@dataclass
class Use:
    """One expression of a file: where it is and what it is."""

    expr: str
    path: str
    line: int
    what: str
    where: "_Map | None" = None  # the mapping holding ``expr``: the line of a PromQL error


@dataclass
class Source:
    path: str
    kind: str  # "rules" or "dashboard"
    uses: list[Use] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)  # recording rule name -> line


def _line(node, default: int) -> int:
    return getattr(node, "line", default)


def _scalar_expr(path: str, where: _Map, key: str, what: str) -> str | None:
    value = where.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise ConfigError(f"{path}:{_line_of_key(where, key)}: {what}: '{key}' is not a string")
    return str(value)


def expr_line(where: _Map, key: str, expr: str, offset: int) -> int:
    """The file line of character ``offset`` of the expression under ``key``."""
    if where.key_lines is not None and key in where.key_lines:
        _, value_line, style = where.key_lines[key]
        return value_line + (1 if style in ("|", ">") else 0) + expr.count("\n", 0, offset)
    return _line_of_key(where, key)


def _rule_file(path: str, doc: _Map) -> Source:
    src = Source(path, "rules")
    groups = doc["groups"]
    if groups is None:
        return src
    if not _is_seq(groups):
        raise ConfigError(f"{path}:{_line_of_key(doc, 'groups')}: not a rule file: 'groups' is not a list")
    for g in groups:
        if not _is_map(g):
            raise ConfigError(f"{path}:{_line(g, _line(groups, 1))}: not a rule file: a group is not a mapping")
        name = g.get("name")
        if not name:
            raise ConfigError(f"{path}:{g.line}: not a rule file: a group has no 'name'")
        rules = g.get("rules")
        if rules is None:
            continue
        if not _is_seq(rules):
            raise ConfigError(f"{path}:{_line_of_key(g, 'rules')}: group {name!r}: 'rules' is not a list")
        for r in rules:
            if not _is_map(r):
                raise ConfigError(f"{path}:{_line(r, rules.line)}: group {name!r}: a rule is not a mapping")
            alert, record = r.get("alert"), r.get("record")
            if bool(alert) == bool(record):
                raise ConfigError(f"{path}:{r.line}: group {name!r}: a rule needs exactly one of 'alert' and 'record'")
            what = f"alert {alert}" if alert else f"record {record}"
            expr = _scalar_expr(path, r, "expr", what)
            if not expr:
                raise ConfigError(f"{path}:{r.line}: group {name!r}: {what} has no 'expr'")
            src.uses.append(Use(expr, path, _line_of_key(r, "expr"), what, r))
            if record:
                src.records.setdefault(str(record), r.line)
    return src


def _is_dashboard(doc) -> bool:
    return isinstance(doc, dict) and any(k in doc for k in ("panels", "rows", "schemaVersion"))


def _panels(path: str, node: _Map) -> Iterator[_Map]:
    """Every panel, also those nested in rows (``"type": "row"`` panels and legacy ``rows``)."""
    for key in ("panels", "rows"):
        items = node.get(key)
        if items is None:
            continue
        if not _is_seq(items):
            raise ConfigError(f"{path}:{_line_of_key(node, key)}: not a Grafana dashboard: '{key}' is not a list")
        for p in items:
            if not _is_map(p):
                raise ConfigError(
                    f"{path}:{_line(p, _line(items, 1))}: not a Grafana dashboard: an entry of '{key}' is not an object"
                )
            if key == "panels":
                yield p
            yield from _panels(path, p)


def _datasource_type(node) -> str | None:
    ds = node.get("datasource") if isinstance(node, dict) else None
    return ds.get("type") if isinstance(ds, dict) and isinstance(ds.get("type"), str) else None


def _dashboard(path: str, doc: _Map) -> Source:
    src = Source(path, "dashboard")
    for panel in _panels(path, doc):
        title = panel.get("title") or f"id {panel.get('id', '?')}"
        targets = panel.get("targets")
        if targets is None:
            continue
        if not _is_seq(targets):
            raise ConfigError(f"{path}:{_line_of_key(panel, 'targets')}: panel {title!r}: 'targets' is not a list")
        for t in targets:
            if not _is_map(t):
                raise ConfigError(f"{path}:{_line(t, targets.line)}: panel {title!r}: a target is not an object")
            kind = _datasource_type(t) or _datasource_type(panel)
            if kind not in (None, "prometheus"):  # Loki, Grafana expressions, ...: not PromQL
                continue
            what = f"panel {title!r} target {t.get('refId', '?')}"
            expr = _scalar_expr(path, t, "expr", what)
            if expr and expr.strip():
                src.uses.append(Use(expr, path, _line_of_key(t, "expr"), what, t))
    return src


def _first_content_line(text: str) -> int:
    """The first line that is neither blank nor a comment (where a one-value document starts)."""
    for k, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            return k
    return 1


def load(path: Path, explicit: bool = True) -> Source | None:
    """A rule file or dashboard; None for a walked file that is neither (``explicit`` False)."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{name}:{line}: not YAML or JSON: not UTF-8 text") from None
    if path.suffix.lower() == ".json":
        doc = _load_json(name, text)
    else:
        doc = _load_yaml(name, text)
    if isinstance(doc, dict) and isinstance(doc.get("dashboard"), dict) and _is_dashboard(doc["dashboard"]):
        doc = doc["dashboard"]  # the HTTP API's {"dashboard": {...}, "meta": {...}}
    if _is_map(doc) and "groups" in doc:
        return _rule_file(name, doc)
    if _is_dashboard(doc):
        return _dashboard(name, doc)
    if not explicit:
        return None
    line = _line(doc, _first_content_line(text))
    shape = (
        "an empty document"
        if doc is None
        else "a mapping"
        if isinstance(doc, dict)
        else "a list"
        if isinstance(doc, list)
        else "a single value"
    )
    raise ConfigError(
        f"{name}:{line}: not a Prometheus rule file (no 'groups') or Grafana dashboard "
        f"(no 'panels'): the document is {shape}"
    )


def expand_paths(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """The files to read: each given file (explicit), and *.yml/*.yaml/*.json under each directory."""
    out: list[tuple[Path, bool]] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += [(f, False) for f in sorted(p.rglob("*")) if f.suffix.lower() in SUFFIXES and f.is_file()]
        elif p.exists():
            out.append((p, True))
        else:
            raise ConfigError(f"{p}: no such file or directory")
    return out
