"""user_queries: the user's own queries in postgres_exporter's ``queries.yaml`` format
(``--extend.query-path``), with 0.11.1's names and types.

Each top-level key is a namespace with a ``query``, optional ``cache_seconds``,
``runonserver`` (a semver range such as ``">=10.0.0 <12.0.0 || >=14"``) and ``master``
(irrelevant with one target), and ``metrics``: a list of one-key mappings
``{column: {usage, description}}``. COUNTER/GAUGE -> ``<ns>_<column>``, DURATION ->
``<ns>_<column>_milliseconds``, MAPPEDMETRIC -> a gauge of ``mapping[value]``, LABEL columns
are labels (plus ``server``), DISCARD is ignored, result columns not listed become untyped
"Unknown metric from <ns>" (as 0.11.1). HISTOGRAM column ``x`` -> histogram ``<ns>_x``: ``x``
holds the bucket upper bounds (an array), ``x_bucket`` the cumulative counts (an array of the
same length), ``x_sum`` and ``x_count`` the sum and count; ``+Inf`` is added as Go does.

Each query runs on its own: a query whose SQL fails gives no series and is logged once
(again only when its error changes), the other queries are served. A row whose histogram
has NULLs or arrays of different lengths loses that histogram (0.11.1 would truncate, or fail
the query): the query counts as failing, like a failed SQL statement, its other series stay.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass, field
from functools import partial

from ..core.collector import Flag, PartialFailure, Settings
from ..core.errors import ConfigError
from ..core.metrics import COUNTER, GAUGE, HISTOGRAM, UNTYPED, MetricDef, MetricFamily
from .query import to_float, to_label
from .registry import PgCollector, pg_collectors
from .session import TargetDown

log = logging.getLogger("exporters.postgres")

USAGES = ("LABEL", "COUNTER", "GAUGE", "MAPPEDMETRIC", "DURATION", "HISTOGRAM", "DISCARD")

LOAD_ERROR = MetricDef(
    "pg_exporter_user_queries_load_error",
    GAUGE,
    "Whether the user queries file was loaded and parsed successfully (1 for error, 0 for success).",
    ("filename", "hashsum"),
)

FLAG = Flag(
    "--extend.query-path",
    "extend_query_path",
    "Path to a postgres_exporter queries.yaml of custom queries (also PG_EXPORTER_EXTEND_QUERY_PATH); "
    "run by the user_queries collector.",
    metavar="FILE",
)


@dataclass(frozen=True)
class MetricColumn:
    column: str
    usage: str
    description: str
    mapping: dict | None = None


@dataclass(frozen=True)
class UserQuery:
    namespace: str
    sql: str
    metrics: tuple[MetricColumn, ...]
    cache_seconds: float = 0.0
    runonserver: tuple = ()  # alternatives of comparators ((op, (maj, min, patch)), ...); () = any
    master: bool = False

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(m.column for m in self.metrics if m.usage == "LABEL")


# ---- semver ranges (blang/semver syntax, the subset queries.yaml files use) ---------------
_COMPARATOR = re.compile(r"^(>=|<=|!=|==|=|>|<)?\s*v?(\d+)(?:\.(\d+|x|X|\*))?(?:\.(\d+|x|X|\*))?$")


def parse_range(text: str) -> tuple:
    """'>=9.6.0 <10.0.0 || >=12' -> alternatives of comparators; ValueError when malformed."""
    alternatives = []
    for part in str(text).split("||"):
        tokens = re.findall(r"(?:>=|<=|!=|==|=|>|<)?\s*[^\s<>=!]+", part.strip())
        if not tokens:
            raise ValueError(f"bad version range {text!r}")
        comparators = []
        for token in tokens:
            m = _COMPARATOR.match(token.strip())
            if not m:
                raise ValueError(f"bad version range {text!r}")
            op = m.group(1) or "="
            parts = [0 if (p is None or not p.isdigit()) else int(p) for p in m.group(2, 3, 4)]
            comparators.append(("=" if op == "==" else op, tuple(parts)))
        alternatives.append(tuple(comparators))
    return tuple(alternatives)


def version_tuple(version_num: int) -> tuple[int, int, int]:
    """server_version_num -> (major, minor, patch) as 0.11.1 parses ``server_version``."""
    if version_num >= 100000:
        return version_num // 10000, version_num % 10000, 0
    return version_num // 10000, version_num // 100 % 100, version_num % 100


def in_range(alternatives: tuple, version: tuple[int, int, int]) -> bool:
    if not alternatives:
        return True
    ops = {
        ">=": version.__ge__,
        "<=": version.__le__,
        ">": version.__gt__,
        "<": version.__lt__,
        "=": version.__eq__,
        "!=": version.__ne__,
    }
    return any(all(ops[op](v) for op, v in alt) for alt in alternatives)


# ---- the parser -----------------------------------------------------------------------------
def parse(text: str, filename: str) -> list[UserQuery]:
    """queries.yaml text -> query definitions; ConfigError naming the file, the namespace and the problem."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise ConfigError(f"{filename}: not valid YAML: {first}") from None
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise ConfigError(f"{filename}: the top level must be a mapping of namespace to query")
    out = []
    for namespace, body in doc.items():

        def bad(problem: str) -> ConfigError:
            return ConfigError(f"{filename}: namespace {namespace}: {problem}")  # noqa: B023 (used at once)

        if not isinstance(body, dict):
            raise bad("must be a mapping with query and metrics")
        sql = body.get("query")
        if not isinstance(sql, str) or not sql.strip():
            raise bad("no query")
        metrics_list = body.get("metrics") or []
        if not isinstance(metrics_list, list):
            raise bad("metrics must be a list")
        metrics = []
        for entry in metrics_list:
            if not isinstance(entry, dict) or len(entry) != 1:
                raise bad(
                    f"a metrics entry must be a one-key mapping {{column: {{usage, description}}}}, got {entry!r}"
                )
            ((column, spec),) = entry.items()
            if not isinstance(spec, dict):
                raise bad(f"column {column}: must be a mapping with usage and description")
            usage = str(spec.get("usage", "")).upper()
            if usage not in USAGES:
                raise bad(f"column {column}: unknown usage {spec.get('usage')!r} (one of {', '.join(USAGES)})")
            mapping = spec.get("mapping")
            if mapping is not None:
                if not isinstance(mapping, dict):
                    raise bad(f"column {column}: mapping must be a mapping of text to number")
                try:
                    mapping = {str(k): float(v) for k, v in mapping.items()}
                except (TypeError, ValueError):
                    raise bad(f"column {column}: mapping values must be numbers") from None
            metrics.append(MetricColumn(str(column), usage, str(spec.get("description") or ""), mapping))
        runonserver = ()
        if body.get("runonserver") not in (None, ""):
            try:
                runonserver = parse_range(body["runonserver"])
            except ValueError as exc:
                raise bad(f"runonserver: {exc}") from None
        try:
            cache_seconds = float(body.get("cache_seconds") or 0)
        except (TypeError, ValueError):
            raise bad(f"cache_seconds must be a number, got {body.get('cache_seconds')!r}") from None
        out.append(
            UserQuery(str(namespace), sql, tuple(metrics), cache_seconds, runonserver, bool(body.get("master", False)))
        )
    return out


def load(path: str) -> tuple[list[UserQuery], str]:
    """Read and parse the file: (queries, sha256 hex of its bytes)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the queries file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse(text, path), hashlib.sha256(data).hexdigest()


# ---- values ---------------------------------------------------------------------------------
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


def duration_ms(value) -> float:
    """A DURATION column in milliseconds: an interval, a number (taken as milliseconds) or
    Go duration text ('1h2m3s'); '-1' and NULL are NaN."""
    import datetime

    if value is None:
        return math.nan
    if isinstance(value, datetime.timedelta):
        return value.total_seconds() * 1000.0
    if isinstance(value, str):
        text = value.strip()
        if text == "-1":
            return math.nan
        sign = -1.0 if text.startswith("-") else 1.0
        body = text.lstrip("+-")
        if body and _GO_DURATION.sub("", body) == "":
            return sign * sum(float(n) * _UNIT_MS[u] for n, u in _GO_DURATION.findall(body))
    return to_float(value)


@dataclass
class _State:
    cached_at: float = -math.inf
    families: list = field(default_factory=list)
    logged_error: str = ""


@pg_collectors.register
class UserQueriesCollector(PgCollector):
    legacy_server = True  # custom queries keep ``server`` under 0.17.1 too
    name = "user_queries"
    default_enabled = True
    description = (
        "Custom queries from --extend.query-path (postgres_exporter's queries.yaml format); nothing without the flag."
    )
    metrics = (LOAD_ERROR,)
    flags = ()  # --extend.query-path is an exporter flag (postgres_exporter's name)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.path = settings.get("extend_query_path") or None
        self.queries: list[UserQuery] = []
        self.hashsum = ""
        if self.path:
            self.queries, self.hashsum = load(self.path)
        self.state = {q.namespace: _State() for q in self.queries}

    async def collect(self):
        if not self.path:
            return []
        load_error = LOAD_ERROR.family()
        load_error.add((self.path, self.hashsum), 0)
        out = [load_error]
        version = version_tuple(self.session.version_num)
        failed = []
        for q in self.queries:
            if not in_range(q.runonserver, version):
                continue
            state = self.state[q.namespace]
            now = time.monotonic()
            if q.cache_seconds > 0 and now - state.cached_at < q.cache_seconds:
                out.extend(state.families)
                if state.logged_error:  # the cached run had bad histogram rows
                    failed.append(q.namespace)
                continue
            try:
                # one at a time: a failing statement never takes the others' results with it
                names, rows = await self.session.fetch(q.sql)
            except TargetDown:
                raise  # the target is down: the collector fails, as every other one
            except Exception as exc:
                self._note(q, state, str(exc) or type(exc).__name__)
                failed.append(q.namespace)
                continue
            families, problem = self._families(q, names, rows)
            self._note(q, state, problem)
            if problem:
                failed.append(q.namespace)
            if q.cache_seconds > 0:
                state.cached_at, state.families = now, families
            out.extend(families)
        if failed:
            raise PartialFailure(f"user queries failed: {', '.join(failed)}", out)
        return out

    @staticmethod
    def _note(q: UserQuery, state: _State, error: str) -> None:
        """Log a query's error once, again only when it changes, and its recovery at info."""
        if error and error != state.logged_error:
            log.error("user query %s failed: %s", q.namespace, error)
        elif not error and state.logged_error:
            log.info("user query %s succeeds again", q.namespace)
        state.logged_error = error

    def _families(self, q: UserQuery, names: list[str], rows: list[tuple]) -> tuple[list[MetricFamily], str]:
        """The query's families, and the first problem met ("" when none)."""
        index = {n: i for i, n in enumerate(names)}
        labelnames = (*q.labels, "server")
        by_column = {m.column: m for m in q.metrics}
        skip = set(by_column)
        for m in q.metrics:
            if m.usage == "HISTOGRAM":
                skip |= {m.column + "_bucket", m.column + "_sum", m.column + "_count"}
        plan = []  # (family, adder(fam, labels, row) -> problem or "")
        problem = ""
        for m in q.metrics:
            if m.column not in index or m.usage in ("LABEL", "DISCARD"):
                continue
            if m.usage == "HISTOGRAM":
                parts = (m.column, m.column + "_bucket", m.column + "_sum", m.column + "_count")
                missing = [p for p in parts if p not in index]
                if missing:
                    problem = problem or f"histogram {m.column}: the query has no column {missing[0]}"
                    continue
                d = MetricDef(f"{q.namespace}_{m.column}", HISTOGRAM, m.description, labelnames)
                plan.append((d.family(), partial(_add_histogram, m.column, tuple(index[p] for p in parts))))
                continue
            if m.usage == "DURATION":
                d, conv = (
                    MetricDef(f"{q.namespace}_{m.column}_milliseconds", GAUGE, m.description, labelnames),
                    duration_ms,
                )
            elif m.usage == "MAPPEDMETRIC":
                mapping = m.mapping or {}
                d = MetricDef(f"{q.namespace}_{m.column}", GAUGE, m.description, labelnames)
                conv = (
                    (lambda v, mapping=mapping: math.nan if v is None else mapping.get(str(v), math.nan))
                    if m.mapping
                    else to_float
                )
            else:
                d, conv = (
                    MetricDef(
                        f"{q.namespace}_{m.column}",
                        COUNTER if m.usage == "COUNTER" else GAUGE,
                        m.description,
                        labelnames,
                    ),
                    to_float,
                )
            plan.append((d.family(), partial(_add_value, index[m.column], conv)))
        for n in names:
            if n not in skip:
                d = MetricDef(f"{q.namespace}_{n}", UNTYPED, f"Unknown metric from {q.namespace}", labelnames)
                plan.append((d.family(), partial(_add_value, index[n], to_float)))
        label_idx = [index.get(l) for l in q.labels]
        server = self.session.server
        for row in rows:
            labels = tuple("" if i is None else to_label(row[i]) for i in label_idx) + (server,)
            for fam, adder in plan:
                row_problem = adder(fam, labels, row)
                problem = problem or row_problem
        return [fam for fam, _ in plan], problem


def _add_value(i: int, conv, fam: MetricFamily, labels: tuple, row: tuple) -> str:
    try:
        fam.add(labels, conv(row[i]))
    except (TypeError, ValueError):
        pass  # not a number: that sample is left out, never a failed scrape (0.11.1 only logs it)
    return ""


def _add_histogram(column: str, idx: tuple[int, int, int, int], fam: MetricFamily, labels: tuple, row: tuple) -> str:
    """Add the row's histogram; a row that cannot make a valid one is left out and named."""
    bounds, counts, sum_, count = (row[i] for i in idx)
    if not isinstance(bounds, list) or not isinstance(counts, list):
        what = "NULL" if bounds is None or counts is None else "not an array"
        return f"histogram {column}: {column} or {column}_bucket is {what}"
    if len(bounds) != len(counts):
        return f"histogram {column}: {len(bounds)} bounds but {len(counts)} bucket counts in one row"
    if sum_ is None or count is None or None in bounds or None in counts:
        return f"histogram {column}: NULL in the bounds, bucket counts, {column}_sum or {column}_count"
    try:
        buckets = [(to_float(b), to_float(c)) for b, c in zip(bounds, counts)]
        total, n = to_float(sum_), to_float(count)
    except (TypeError, ValueError):
        return f"histogram {column}: the bounds, bucket counts, sum and count must be numbers"
    if any(b != b for b, _ in buckets):
        return f"histogram {column}: a bucket bound is NaN"
    fam.add_histogram(labels, buckets, total, n)
    return ""
