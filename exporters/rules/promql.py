"""PromQL as tokens, as far as ``rules check`` needs it: the metric names an expression selects."""

from __future__ import annotations

import re
from dataclasses import dataclass

AGGREGATIONS = frozenset(
    "sum avg count min max stddev stdvar topk bottomk quantile count_values group limitk limit_ratio".split()
)
# followed by a parenthesised list of label names, which are not series
LABEL_LIST_KEYWORDS = frozenset("by without on ignoring group_left group_right".split())
KEYWORDS = (
    AGGREGATIONS | LABEL_LIST_KEYWORDS | frozenset("bool offset and or unless atan2 start end inf nan".split())
)  # PromQL keywords are case-insensitive

_IDENT_START = re.compile(r"[A-Za-z_:]")
_IDENT_CHARS = re.compile(r"[A-Za-z0-9_:]*")
METRIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NAME_ALTERNATION = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*(?:\|[A-Za-z_:][A-Za-z0-9_:]*)*")
DIGITS = "0123456789"
_NUMBER = re.compile(r"[0-9.](?:[eE][+-][0-9]|[0-9A-Za-z_.])*")  # numbers, hex, durations (1h30m)
# Grafana template variables: $var, ${var}, ${var:format}, [[var]], [[var:format]]
_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z0-9_]+|\[\[[A-Za-z0-9_.]+(?::[A-Za-z0-9_]+)?\]\]")
_OPERATORS = (
    "==",
    "!=",
    "=~",
    "!~",
    ">=",
    "<=",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "<",
    ">",
    "@",
    ":",
)
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
            out.append(Token("str", expr[i : j + 1], i))
            i = j + 1
        elif c in DIGITS or (c == "." and i + 1 < n and expr[i + 1] in DIGITS):  # not str.isdigit: '²' is one
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
            found += _matcher_names(tokens[k + 1 : pairs[k]])
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
