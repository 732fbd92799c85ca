"""``flextime-exporter rules check FILES...``: is every series a rule file or dashboard uses provided?

Reads Prometheus rule files (YAML: ``groups`` -> ``rules`` -> ``expr``) and Grafana dashboards
(JSON: ``panels``, also nested in rows, -> ``targets`` -> ``expr``), takes the metric names out of
every PromQL expression and says, for each, who provides it:

- the fleet: the exporter(s) whose metric tables (``MetricDef``) declare it;
- a recording rule of the files checked;
- another component of the platform (:data:`OTHER_PROVIDERS`);
- nothing: ``MISSING``, and the command exits 1.

A file that is not YAML/JSON, or not a rule file or dashboard, is a :class:`ConfigError` naming the
file and line (the CLI prints it as one line, exit 2). Files found by walking a directory that are
valid YAML/JSON but neither (prometheus.yml, file_sd target lists) are skipped with a note.

Nothing here imports an exporter at module import time: the fleet's tables are read in
:func:`fleet_catalogue`, when the command runs.
"""

from __future__ import annotations

import bisect
import importlib
import importlib.util
import json
import re
from dataclasses import dataclass, field
from json import decoder as _json_decoder
from json import scanner as _json_scanner
from pathlib import Path
from typing import Iterable, Iterator, TextIO

from .core.errors import ConfigError

# Series other components of the platform provide, in one place: (name, or prefix ending in "*"; who).
OTHER_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("http_*", "the application"),
    ("kube_*", "kube-state-metrics"),
    ("up", "Prometheus"),
    ("ALERTS", "Prometheus"),
    ("scrape_*", "Prometheus"),
)

SUFFIXES = (".yml", ".yaml", ".json")

# ---- PromQL: the metric names an expression selects ---------------------------------------------

AGGREGATIONS = frozenset(
    "sum avg count min max stddev stdvar topk bottomk quantile count_values group limitk limit_ratio".split())
# followed by a parenthesised list of label names, which are not series
LABEL_LIST_KEYWORDS = frozenset("by without on ignoring group_left group_right".split())
KEYWORDS = AGGREGATIONS | LABEL_LIST_KEYWORDS | frozenset(
    "bool offset and or unless atan2 start end inf nan".split())  # PromQL keywords are case-insensitive

_IDENT_START = re.compile(r"[A-Za-z_:]")
_IDENT_CHARS = re.compile(r"[A-Za-z0-9_:]*")
_METRIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NAME_ALTERNATION = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*(?:\|[A-Za-z_:][A-Za-z0-9_:]*)*")
_NUMBER = re.compile(r"[0-9.](?:[eE][+-][0-9]|[0-9A-Za-z_.])*")  # numbers, hex, durations (1h30m)
# Grafana template variables: $var, ${var}, ${var:format}, [[var]], [[var:format]]
_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z0-9_]+|\[\[[A-Za-z0-9_.]+(?::[A-Za-z0-9_]+)?\]\]")
_OPERATORS = ("==", "!=", "=~", "!~", ">=", "<=", "{", "}", "(", ")", "[", "]", ",", "=", "+", "-", "*", "/",
              "%", "^", "<", ">", "@", ":")
_CLOSING = {"(": ")", "{": "}", "[": "]"}


class PromQLError(ValueError):
    """An expression the tokenizer cannot read; ``offset`` is where, in characters."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Token:
    kind: str  # "ident", "var" (a Grafana template variable, alone or inside a word), "str", "num", "op"
    text: str
    pos: int


def tokenize(expr: str) -> list[Token]:
    """PromQL (with Grafana's template variables) as tokens; comments and white space dropped."""
    out: list[Token] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":  # a comment to the end of the line
            end = expr.find("\n", i)
            i = n if end < 0 else end + 1
        elif c in "\"'`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if c != "`" and expr[j] == "\\" else 1
            if j >= n:
                raise PromQLError("unterminated string", i)
            out.append(Token("str", expr[i:j + 1], i))
            i = j + 1
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            m = _NUMBER.match(expr, i)
            out.append(Token("num", m.group(), i))
            i = m.end()
        elif _IDENT_START.match(c) or _VAR.match(expr, i):
            # a word: identifier characters and template variables side by side (node_${kind}_bytes)
            j, templated = i, False
            while j < n:
                m = _VAR.match(expr, j)
                if m:
                    templated, j = True, m.end()
                    continue
                m = _IDENT_CHARS.match(expr, j)
                if m.end() == j:
                    break
                j = m.end()
            out.append(Token("var" if templated else "ident", expr[i:j], i))
            i = j
        else:
            for op in _OPERATORS:
                if expr.startswith(op, i):
                    out.append(Token("op", op, i))
                    i += len(op)
                    break
            else:
                raise PromQLError(f"unexpected character {c!r}", i)
    return out


def _matching(tokens: list[Token]) -> dict[int, int]:
    """Index of each opening bracket -> index of its closing one; unbalanced brackets are errors."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for k, t in enumerate(tokens):
        if t.kind != "op":
            continue
        if t.text in _CLOSING:
            stack.append(k)
        elif t.text in (")", "}", "]"):
            if not stack or _CLOSING[tokens[stack[-1]].text] != t.text:
                raise PromQLError(f"unexpected {t.text!r}", t.pos)
            pairs[stack.pop()] = k
    if stack:
        t = tokens[stack[-1]]
        raise PromQLError(f"{t.text!r} is never closed", t.pos)
    return pairs


def _unquote(text: str) -> str:
    body = text[1:-1]
    return body if text[0] == "`" else re.sub(r"\\(.)", r"\1", body)


def _matcher_names(tokens: list[Token]) -> list[str]:
    """Names a ``{...}`` selector gives: a quoted name (``{"foo"}``) or ``__name__`` matchers."""
    names: list[str] = []
    parts: list[list[Token]] = [[]]
    for t in tokens:
        if t.kind == "op" and t.text == ",":
            parts.append([])
        else:
            parts[-1].append(t)
    for part in parts:
        if len(part) == 1 and part[0].kind == "str":  # Prometheus 3: {"metric.name", job="x"}
            names.append(_unquote(part[0].text))
        elif len(part) == 3 and part[2].kind == "str":
            label = part[0].text if part[0].kind == "ident" else _unquote(part[0].text) if part[0].kind == "str" else ""
            if label != "__name__":
                continue
            value = _unquote(part[2].text)
            if part[1].text == "=":
                names.append(value)
            elif part[1].text == "=~" and _NAME_ALTERNATION.fullmatch(value):
                names.extend(value.split("|"))
    return names


def series_names(expr: str) -> list[str]:
    """The metric names an expression selects, in order of first use, each once.

    Skipped: strings, label names (in selectors and in ``by``/``without``/``on``/``ignoring``/
    ``group_left``/``group_right`` lists), function names, keywords and aggregations, numbers and
    durations, range and subquery brackets, and Grafana template variables (a name built from a
    variable, ``node_${kind}_bytes``, cannot be checked and is left out).
    Raises :class:`PromQLError` for an unterminated string, unbalanced brackets or a character
    PromQL does not have."""
    tokens = tokenize(expr)
    pairs = _matching(tokens)
    found: list[str] = []
    k, n = 0, len(tokens)
    while k < n:
        t = tokens[k]
        nxt = tokens[k + 1] if k + 1 < n else None
        if t.kind == "op" and t.text == "{":
            found += _matcher_names(tokens[k + 1:pairs[k]])
            k = pairs[k] + 1
            continue
        if t.kind == "op" and t.text == "[":  # a range or subquery: durations and variables only
            k = pairs[k] + 1
            continue
        if t.kind == "ident":
            word = t.text.lower()
            opens = nxt is not None and nxt.kind == "op" and nxt.text == "("
            if word in LABEL_LIST_KEYWORDS and opens:
                k = pairs[k + 1] + 1
                continue
            if word not in KEYWORDS and not opens:  # an identifier before "(" is a function
                found.append(t.text)
        k += 1
    return list(dict.fromkeys(found))


# ---- who provides a name --------------------------------------------------------------------------

def _expand(name: str, mtype: str) -> list[str]:
    """The series names one family has: a histogram only its _bucket/_sum/_count, a summary also
    its quantile series under the bare name."""
    if mtype == "histogram":
        return [name + "_bucket", name + "_sum", name + "_count"]
    if mtype == "summary":
        return [name, name + "_sum", name + "_count"]
    return [name]


def _template_regex(template: str) -> re.Pattern:
    """A documented name with placeholders (``node_memory_<Key>_bytes``,
    ``pg_settings_<name>[_seconds|_bytes]``) as a regular expression."""
    out, i = [], 0
    while i < len(template):
        c = template[i]
        if c == "<":
            end = template.index(">", i)
            out.append("[A-Za-z0-9_]+")
            i = end + 1
        elif c == "[":
            end = template.index("]", i)
            out.append("(?:" + "|".join(re.escape(a) for a in template[i + 1:end].split("|")) + ")?")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out))


@dataclass
class Catalogue:
    """The names the fleet provides: exact names -> exporters, and documented name patterns."""

    exact: dict[str, list[str]] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern, str, str]] = field(default_factory=list)  # (regex, template, exporter)

    def add(self, name: str, mtype: str, exporter: str) -> None:
        if _METRIC_NAME.fullmatch(name):
            for series in _expand(name, mtype):
                owners = self.exact.setdefault(series, [])
                if exporter not in owners:
                    owners.append(exporter)
        else:
            for series in _expand(name, mtype):
                entry = (_template_regex(series), series, exporter)
                if entry[1:] not in [(p[1], p[2]) for p in self.patterns]:
                    self.patterns.append(entry)

    def lookup(self, name: str) -> str | None:
        """"postgres", "node, postgres, redis, scheduler", "node (node_memory_<Key>_bytes)", or None."""
        if name in self.exact:
            return ", ".join(self.exact[name])
        hits: dict[str, list[str]] = {}
        for regex, template, exporter in self.patterns:
            if regex.fullmatch(name):
                hits.setdefault(exporter, []).append(template)
        if hits:  # the most specific template: node_memory_<Key>_bytes rather than node_memory_<Key>
            best = {e: max(t, key=lambda x: len(re.sub(r"<[^>]*>|\[[^]]*\]", "", x))) for e, t in hits.items()}
            return ", ".join(f"{e} ({t})" for e, t in best.items())
        return None


def _session_status_metrics(module: str) -> tuple:
    """The families an exporter's session emits in ``families()`` (pg_up, redis_exporter_*):
    ``STATUS_METRICS`` of its ``session`` module, when it has one."""
    name = module + ".session"
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        found = None
    if found is None:
        return ()
    return tuple(getattr(importlib.import_module(name), "STATUS_METRICS", ()))


def fleet_catalogue() -> Catalogue:
    """Every name the fleet's exporters declare, read from their metric tables."""
    from .cli import EXPORTERS, load_spec
    from .core import selfmetrics, server

    # families every exporter's server adds to /metrics (core/server.py exporter_families)
    common = (*selfmetrics.PROCESS_METRICS, selfmetrics.BUILD_INFO, server.HANDLER_REQUESTS,
              server.HANDLER_IN_FLIGHT, server.SERIES_DROPPED)
    cat = Catalogue()
    for exporter in EXPORTERS:
        spec = load_spec(exporter)
        defs = [d for cls in spec.collectors for d in cls.metrics]
        defs += list(getattr(spec, "session_metrics", ()))
        defs += list(_session_status_metrics(EXPORTERS[exporter][0]))
        defs += list(common)
        for d in defs:
            cat.add(d.name, d.type, exporter)
        for suffix in ("success", "duration_seconds"):
            cat.add(f"{spec.namespace}_scrape_collector_{suffix}", "gauge", exporter)
        if getattr(spec, "probe_errors_metric", ""):
            cat.add(spec.probe_errors_metric, "counter", exporter)
    return cat


def other_provider(name: str) -> str | None:
    for pattern, who in OTHER_PROVIDERS:
        if (name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern):
            return who
    return None


# ---- reading files with line numbers --------------------------------------------------------------

class _Map(dict):
    """A mapping that knows the line it starts on and, for YAML, where each key and value is."""

    line: int = 1
    pos: int | None = None  # JSON: offset of "{"
    text: str | None = None  # JSON: the whole document, to find a key's line
    keys: dict | None = None  # YAML: key -> (key line, value line, value style)


class _Seq(list):
    line: int = 1


def _line_of_key(m: _Map, key: str) -> int:
    if m.keys is not None and key in m.keys:
        return m.keys[key][0]
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
        m.keys = {}
        yield m
        m.update(loader.construct_mapping(node))
        for k, v in node.value:
            if isinstance(k.value, str):
                m.keys[k.value] = (k.start_mark.line + 1, v.start_mark.line + 1, getattr(v, "style", None))

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
            self.scan_once = _json_scanner.py_make_scanner(self)

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


def _expr_line(where: _Map, key: str, expr: str, offset: int) -> int:
    """The file line of character ``offset`` of the expression under ``key``."""
    if where.keys is not None and key in where.keys:
        _, value_line, style = where.keys[key]
        return value_line + (1 if style in ("|", ">") else 0) + expr.count("\n", 0, offset)
    return _line_of_key(where, key)


def _rule_file(path: str, doc: _Map) -> Source:
    src = Source(path, "rules")
    groups = doc["groups"]
    if groups is None:
        return src
    if not isinstance(groups, list):
        raise ConfigError(f"{path}:{_line_of_key(doc, 'groups')}: not a rule file: 'groups' is not a list")
    for g in groups:
        if not isinstance(g, dict):
            raise ConfigError(f"{path}:{_line(g, _line(groups, 1))}: not a rule file: a group is not a mapping")
        name = g.get("name")
        if not name:
            raise ConfigError(f"{path}:{g.line}: not a rule file: a group has no 'name'")
        rules = g.get("rules")
        if rules is None:
            continue
        if not isinstance(rules, list):
            raise ConfigError(f"{path}:{_line_of_key(g, 'rules')}: group {name!r}: 'rules' is not a list")
        for r in rules:
            if not isinstance(r, dict):
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
        if not isinstance(items, list):
            raise ConfigError(f"{path}:{_line_of_key(node, key)}: not a Grafana dashboard: '{key}' is not a list")
        for p in items:
            if not isinstance(p, dict):
                raise ConfigError(f"{path}:{_line(p, _line(items, 1))}: not a Grafana dashboard: "
                                  f"an entry of '{key}' is not an object")
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
        if not isinstance(targets, list):
            raise ConfigError(f"{path}:{_line_of_key(panel, 'targets')}: panel {title!r}: 'targets' is not a list")
        for t in targets:
            if not isinstance(t, dict):
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
    if isinstance(doc, dict) and "groups" in doc:
        return _rule_file(name, doc)
    if _is_dashboard(doc):
        return _dashboard(name, doc)
    if not explicit:
        return None
    line = _line(doc, _first_content_line(text))
    shape = ("an empty document" if doc is None else "a mapping" if isinstance(doc, dict)
             else "a list" if isinstance(doc, list) else "a single value")
    raise ConfigError(f"{name}:{line}: not a Prometheus rule file (no 'groups') or Grafana dashboard "
                      f"(no 'panels'): the document is {shape}")


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


# ---- the report -----------------------------------------------------------------------------------

@dataclass
class Finding:
    name: str
    kind: str  # "fleet", "recorded", "other", "missing"
    detail: str
    locations: list[str]

    def describe(self) -> str:
        if self.kind == "fleet":
            return self.detail
        if self.kind == "recorded":
            return f"recorded: {self.detail}"
        if self.kind == "other":
            return f"other: {self.detail}"
        return f"MISSING ({', '.join(self.locations)})"


def classify(uses: dict[str, list[str]], records: dict[str, str], catalogue: Catalogue) -> list[Finding]:
    """``uses``: name -> where it is used; ``records``: recording rule name -> where it is defined."""
    out = []
    for name in sorted(uses):
        locations = list(dict.fromkeys(uses[name]))
        fleet = catalogue.lookup(name)
        if fleet is not None:
            out.append(Finding(name, "fleet", fleet, locations))
        elif name in records:
            out.append(Finding(name, "recorded", records[name], locations))
        elif (who := other_provider(name)) is not None:
            out.append(Finding(name, "other", who, locations))
        else:
            out.append(Finding(name, "missing", "", locations))
    return out


def gather(sources: list[Source]) -> tuple[dict[str, list[str]], dict[str, str]]:
    uses: dict[str, list[str]] = {}
    records: dict[str, str] = {}
    for src in sources:
        for rec, line in src.records.items():
            records.setdefault(rec, f"{src.path}:{line}")
        for use in src.uses:
            try:
                names = series_names(use.expr)
            except PromQLError as exc:
                line = _expr_line(use.where, "expr", use.expr, exc.offset) if use.where is not None else use.line
                raise ConfigError(f"{use.path}:{line}: {use.what}: cannot read the expression: {exc}") from None
            for name in names:
                uses.setdefault(name, []).append(f"{use.path}:{use.line}")
    return uses, records


def report(findings: list[Finding], files: int, out: TextIO) -> None:
    width = max((len(f.name) for f in findings), default=0)
    for f in findings:
        out.write(f"{f.name.ljust(width)}  {f.describe()}\n")
    count = {k: sum(1 for f in findings if f.kind == k) for k in ("fleet", "recorded", "other", "missing")}
    out.write(f"{len(findings)} series in {files} file{'s' if files != 1 else ''}: {count['fleet']} from the fleet, "
              f"{count['recorded']} recorded by rules, {count['other']} from other components, "
              f"{count['missing']} MISSING\n")


def check(paths: Iterable[str | Path], out: TextIO, err: TextIO, catalogue: Catalogue | None = None) -> int:
    """Run ``rules check``: the report on ``out``, skipped files on ``err``; 1 when a series is
    provided by nothing, else 0. Bad input raises :class:`ConfigError`."""
    sources: list[Source] = []
    for path, explicit in expand_paths(paths):
        src = load(path, explicit)
        if src is None:
            err.write(f"skipped {path}: not a Prometheus rule file or Grafana dashboard\n")
        else:
            sources.append(src)
    uses, records = gather(sources)
    findings = classify(uses, records, catalogue if catalogue is not None else fleet_catalogue())
    report(findings, len(sources), out)
    return 1 if any(f.kind == "missing" for f in findings) else 0
