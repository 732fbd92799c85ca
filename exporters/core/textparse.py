"""A parser for the Prometheus text exposition format (0.0.4), for textfile input.

Our own rather than prometheus_client's because that one renames counter
samples (``foo`` becomes ``foo_total``), which node_exporter does not do, and
because it would add ~10 MiB to the host exporter. Pure: text in, families
out, or a :class:`ParseError` that names the line.
"""

from __future__ import annotations

import math
import re

from .metrics import COUNTER, GAUGE, HISTOGRAM, SUMMARY, UNTYPED, MetricFamily

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = {"counter": COUNTER, "gauge": GAUGE, "histogram": HISTOGRAM, "summary": SUMMARY, "untyped": UNTYPED}
_SUFFIXES = {HISTOGRAM: ("_bucket", "_sum", "_count"), SUMMARY: ("_sum", "_count")}
_SPECIAL = {"nan": math.nan, "+inf": math.inf, "inf": math.inf, "-inf": -math.inf}


class ParseError(ValueError):
    pass


def _float(text: str, what: str, lineno: int) -> float:
    special = _SPECIAL.get(text.lower())
    if special is not None:
        return special
    if "_" in text or text.lower().lstrip("+-").startswith(("inf", "nan")):
        raise ParseError(f"line {lineno}: invalid {what} {text!r}")
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"line {lineno}: invalid {what} {text!r}") from None


# a label value's body up to its closing quote: runs of plain characters, or a backslash and the
# character it escapes (checked afterwards); a regex scan, not a loop per character: label values
# of textfiles can be kilobytes long (a 50 MB file parsed 8x faster)
_VALUE_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)
_UNESCAPED = {"n": "\n", '"': '"', "\\": "\\"}


def _unescape(body: str, name: str, lineno: int) -> str:
    def one(m: re.Match) -> str:
        c = m.group(1)
        out = _UNESCAPED.get(c)
        if out is None:
            raise ParseError(f"line {lineno}: invalid escape '\\{c}' in label {name!r}")
        return out

    return _ESCAPE.sub(one, body)


# one well-formed label pair and what follows it (',' or '}'): the fast path of _labels
_PAIR = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*="([^"\\]*(?:\\.[^"\\]*)*)"[ \t]*([,}])', re.S)


def _labels(line: str, pos: int, lineno: int) -> tuple[list[tuple[str, str]], int]:
    """Parse ``{a="x",b="y"}`` starting at the '{'; return the pairs and the position after '}'.
    Well-formed blocks take the regex path; anything else the careful one, which names the error."""
    pairs: list[tuple[str, str]] = []
    at = pos + 1
    match = _PAIR.match
    while True:
        m = match(line, at)
        if m is None:
            return _labels_checked(line, pos, lineno)
        name, value, sep = m.groups()
        if "\\" in value:
            value = _unescape(value, name, lineno)
        pairs.append((name, value))
        at = m.end()
        if sep == "}":
            if len(pairs) > 1 and len({k for k, _ in pairs}) != len(pairs):
                return _labels_checked(line, pos, lineno)  # names the label given twice
            return pairs, at


def _labels_checked(line: str, pos: int, lineno: int) -> tuple[list[tuple[str, str]], int]:
    """The careful parse of a label block, character class by character class, with precise errors."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    pos += 1
    n = len(line)
    while True:
        while pos < n and line[pos] in " \t":
            pos += 1
        if pos < n and line[pos] == "}":
            return pairs, pos + 1
        m = _LABEL.match(line, pos)
        if not m:
            raise ParseError(f"line {lineno}: invalid label name at column {pos + 1}")
        name = m.group()
        pos = m.end()
        while pos < n and line[pos] in " \t":
            pos += 1
        if line[pos : pos + 2] != '="':
            raise ParseError(f"line {lineno}: expected '=\"' after label name {name!r}")
        body = _VALUE_BODY.match(line, pos + 2)
        end = body.end()
        if end >= n:
            raise ParseError(f"line {lineno}: unterminated value of label {name!r}")
        if line[end] == "\\":  # a backslash as the line's last character
            raise ParseError(f"line {lineno}: invalid escape '\\' in label {name!r}")
        value = body.group()
        if "\\" in value:
            value = _unescape(value, name, lineno)
        pos = end + 1
        if name in seen:
            raise ParseError(f"line {lineno}: label {name!r} given twice")
        seen.add(name)
        pairs.append((name, value))
        while pos < n and line[pos] in " \t":
            pos += 1
        if pos < n and line[pos] == ",":
            pos += 1
        elif pos < n and line[pos] == "}":
            return pairs, pos + 1
        else:
            raise ParseError(f"line {lineno}: expected ',' or '}}' after label {name!r}")


def parse_text(text: str, default_help: str = "") -> list[MetricFamily]:
    """Families in order of first appearance. Samples carry no timestamps: a
    sample with one raises ParseError (node_exporter refuses them in textfiles)."""
    families: dict[str, MetricFamily] = {}
    types: dict[str, str] = {}
    helps: dict[str, str] = {}
    owner: dict[str, str] = {}  # sample name -> family name (histogram/summary parts)

    def family(name: str) -> MetricFamily:
        fam = families.get(name)
        if fam is None:
            typ = types.get(name, UNTYPED)
            fam = families[name] = MetricFamily(name, typ, helps.get(name, default_help))
            for suffix in _SUFFIXES.get(typ, ()):
                owner[name + suffix] = name
            owner[name] = name
        return fam

    # lines end at \n only: splitlines() also splits at \r, \x85, \u2028... which may stand in label values
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t\r")
        if not line:
            continue
        if line.startswith("#"):
            parts = line[1:].split(None, 2)
            if len(parts) < 2 or parts[0] not in ("HELP", "TYPE"):
                continue  # a plain comment
            keyword, name = parts[0], parts[1]
            if not _NAME.fullmatch(name):
                raise ParseError(f"line {lineno}: invalid metric name {name!r}")
            rest = parts[2] if len(parts) > 2 else ""
            if keyword == "TYPE":
                typ = _TYPES.get(rest.strip())
                if typ is None:
                    raise ParseError(f"line {lineno}: unknown metric type {rest.strip()!r}")
                if name in types:
                    raise ParseError(f"line {lineno}: second TYPE line for metric name {name!r}")
                if name in families:
                    raise ParseError(f"line {lineno}: TYPE line for {name!r} after its samples")
                types[name] = typ
            else:
                if name in helps:
                    raise ParseError(f"line {lineno}: second HELP line for metric name {name!r}")
                helps[name] = rest.replace("\\n", "\n").replace("\\\\", "\\")
                if name in families:
                    families[name].help = helps[name]
            continue
        m = _NAME.match(line)
        if not m:
            raise ParseError(f"line {lineno}: invalid metric name in {line[:60]!r}")
        sample_name = m.group()
        pos = m.end()
        labels: list[tuple[str, str]] = []
        if pos < len(line) and line[pos] == "{":
            labels, pos = _labels(line, pos, lineno)
        fields = line[pos:].split()
        if not fields:
            raise ParseError(f"line {lineno}: missing value for {sample_name}")
        if len(fields) > 2:
            raise ParseError(f"line {lineno}: unexpected text after the value of {sample_name}")
        value = _float(fields[0], "value", lineno)
        if len(fields) == 2:
            _float(fields[1], "timestamp", lineno)
            raise ParseError(f"line {lineno}: {sample_name} has a client-side timestamp, which is not supported")
        fam_name = owner.get(sample_name)
        if fam_name is None:
            for typ_name, typ in types.items():
                if sample_name.startswith(typ_name) and sample_name[len(typ_name) :] in _SUFFIXES.get(typ, ()):
                    fam_name = typ_name
                    break
            else:
                fam_name = sample_name
        fam = family(fam_name)
        suffix = sample_name[len(fam_name) :]
        if fam.type == HISTOGRAM and suffix == "_bucket" and not any(k == "le" for k, _ in labels):
            raise ParseError(f"line {lineno}: histogram bucket {sample_name} has no 'le' label")
        if fam.type in (HISTOGRAM, SUMMARY) and suffix == "" and fam.type == HISTOGRAM:
            raise ParseError(f"line {lineno}: histogram {fam_name} sample without _bucket/_sum/_count suffix")
        before = len(fam.samples)
        fam.add_labeled(sorted(labels), value, suffix=suffix)
        if len(fam.samples) == before:
            raise ParseError(f"line {lineno}: duplicate sample {sample_name} with the same labels")
    return list(families.values())
