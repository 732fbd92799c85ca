"""Metric definitions, per-scrape metric families, and the exposition writer.

Why not prometheus_client's families and ``generate_latest``: they cost ~7 us per
series and 10+ MiB of imports (measured: docs/architecture.md).
Every exporter of the fleet renders through :func:`render`, so making it fast
here makes all of them fast.

A collector declares its metrics once as :class:`MetricDef` rows (name, type,
help, label names). The same rows feed the collector's output and the metric
reference in README.md, so the docs cannot drift from the code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Sequence

COUNTER = "counter"
GAUGE = "gauge"
UNTYPED = "untyped"
HISTOGRAM = "histogram"
SUMMARY = "summary"
TYPES = (COUNTER, GAUGE, UNTYPED, HISTOGRAM, SUMMARY)

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(frozen=True)
class MetricDef:
    """One metric family as the user sees it: the compatibility contract."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: unknown metric type {self.type!r}")

    def family(self) -> "MetricFamily":
        return MetricFamily(self.name, self.type, self.help, self.labels)


def gauge(name: str, help: str, *labels: str) -> MetricDef:
    return MetricDef(name, GAUGE, help, labels)


def counter(name: str, help: str, *labels: str) -> MetricDef:
    return MetricDef(name, COUNTER, help, labels)


# A sample: (full sample name, rendered label block such as '{a="1"}' or '', value).
Sample = tuple[str, str, float]

# Label sets repeat scrape after scrape (cpu/mode, device, mountpoint), so their
# escaped '{...}' blocks are kept; cleared whole when it grows past the bound.
_block_cache: dict[tuple, str] = {}
_bucket_block_cache: dict[tuple, str] = {}  # ((label, value) pairs, bound) -> block with ``le`` last
_BLOCK_CACHE_MAX = 100_000


@dataclass
class MetricFamily:
    """The samples of one family gathered in one scrape. Built fresh per scrape,
    so a series that disappears from the source disappears from the output."""

    name: str
    type: str
    help: str
    labelnames: tuple[str, ...] = ()
    samples: list[Sample] = field(default_factory=list)
    duplicates: int = 0
    _seen: set = field(default_factory=set, repr=False)

    def add(self, labelvalues: Sequence[object], value: float, suffix: str = "") -> None:
        """Add one sample; values are given in the order of ``labelnames``.

        A second sample with the same name and labels is dropped and counted:
        one bad row must never fail a whole scrape."""
        if self.labelnames:
            key = (self.labelnames, tuple(labelvalues))
            block = _block_cache.get(key)
            if block is None:
                if len(_block_cache) >= _BLOCK_CACHE_MAX:
                    _block_cache.clear()
                block = _block_cache[key] = label_block(zip(self.labelnames, labelvalues))
        else:
            block = ""
        self._append(self.name + suffix, block, value)

    def add_labeled(self, labels: Iterable[tuple[str, object]], value: float, suffix: str = "") -> None:
        """Add a sample whose label names differ from the family's (textfile input, histograms)."""
        self._append(self.name + suffix, label_block(labels), value)

    def add_histogram(
        self, labelvalues: Sequence[object], buckets: Iterable[tuple[float, float]], sum_: float, count: float
    ) -> None:
        """Add one histogram from (upper bound, cumulative count) pairs, rendered as Go renders a
        const histogram: buckets by bound with ``le`` last, a ``+Inf`` bucket of ``count`` when the
        bounds lack one, then ``_sum`` and ``_count``. A label set already present drops the
        whole histogram (counted), so two rows can never interleave into one broken histogram."""
        pairs = tuple(zip(self.labelnames, labelvalues))
        bounds = sorted(buckets)
        if not bounds or bounds[-1][0] != math.inf:
            bounds.append((math.inf, count))
        count_block = label_block(pairs)
        if (self.name + "_count", count_block) in self._seen:
            self.duplicates += len(bounds) + 2
            return
        bucket = self.name + "_bucket"
        for bound, cumulative in bounds:
            key = (pairs, bound)  # bucket label sets repeat scrape after scrape, as other label sets
            block = _bucket_block_cache.get(key)
            if block is None:
                if len(_bucket_block_cache) >= _BLOCK_CACHE_MAX:
                    _bucket_block_cache.clear()
                block = _bucket_block_cache[key] = label_block((*pairs, ("le", format_le(bound))))
            self._append(bucket, block, cumulative)
        self._append(self.name + "_sum", count_block, sum_)
        self._append(self.name + "_count", count_block, count)

    def _append(self, sample_name: str, block: str, value: float) -> None:
        key = (sample_name, block)
        if key in self._seen:
            self.duplicates += 1
            return
        self._seen.add(key)
        self.samples.append((sample_name, block, value))


def _escape_label_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _escape_help(text: str) -> str:
    if "\\" in text or "\n" in text:
        return text.replace("\\", "\\\\").replace("\n", "\\n")
    return text


def label_block(labels: Iterable[tuple[str, object]]) -> str:
    parts = [f'{k}="{_escape_label_value(str(v))}"' for k, v in labels]
    return "{" + ",".join(parts) + "}" if parts else ""


def format_value(value: float) -> str:
    """Format a sample value as the Go exporters do: integers without '.0',
    NaN and infinities in the spelling the text format requires."""
    if value.__class__ is int:
        return str(value)
    if value != value:
        return "NaN"
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if value.is_integer() and -1e15 < value < 1e15:
        return str(int(value))
    return repr(value)


_le_cache: dict[float, str] = {}


def format_le(bound: float) -> str:
    """A bucket bound as Go writes ``le`` (strconv 'g', shortest): 1 -> "1", 1e6 -> "1e+06"."""
    text = _le_cache.get(bound)
    if text is None:
        if len(_le_cache) >= 10_000:
            _le_cache.clear()
        text = _le_cache[bound] = _format_le(bound)
    return text


def _format_le(bound: float) -> str:
    if bound != bound:
        return "NaN"
    if bound in (math.inf, -math.inf):
        return "+Inf" if bound > 0 else "-Inf"
    if bound == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(bound))).normalize().as_tuple()
    exponent = int(exponent)  # a finite number's (infinities and 0 are answered above)
    point = len(digits) - 1 + exponent  # the decimal exponent of the first digit
    if -4 <= point < 6:
        return format(Decimal((sign, digits, exponent)), "f")
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if point < 0 else '+'}{abs(point):02d}"


def merge(families: Iterable[MetricFamily]) -> tuple[list[MetricFamily], int]:
    """Join families that share a name (e.g. a textfile metric that a collector
    also exposes). Samples already seen, and families whose type conflicts with
    the first one of that name, are dropped and counted: never a failed scrape.
    Returns the merged families and the number of samples dropped."""
    by_name: dict[str, MetricFamily] = {}
    dropped = 0
    for fam in families:
        dropped += fam.duplicates
        first = by_name.get(fam.name)
        if first is None:
            by_name[fam.name] = fam
            continue
        if first.type != fam.type:
            dropped += len(fam.samples)
            continue
        if first is not None and not getattr(first, "_merged_copy", False):
            # copy before appending: the inputs may be shared by coalesced scrapes
            first = MetricFamily(
                first.name, first.type, first.help, first.labelnames, list(first.samples), 0, set(first._seen)
            )
            first._merged_copy = True  # type: ignore[attr-defined]
            by_name[fam.name] = first
        kept_before = len(first.samples)
        for name, block, value in fam.samples:
            first._append(name, block, value)
        dropped += len(fam.samples) - (len(first.samples) - kept_before)
    return list(by_name.values()), dropped


def _value_formatter():
    """format_value with a memo for one rendering: a scrape's values repeat (155k samples of
    a per-table scrape hold ~450 distinct values), and a dict lookup costs a fraction of the
    formatting. Returns ``get`` (None when not memoized) and ``miss`` (formats and memoizes).
    Only values whose equal values all format alike are memoized: not an int or float of 1e15
    or more (an int prints every digit there, a float its repr), nor anything but int and float."""
    memo: dict = {}

    def miss(value) -> str:
        text = format_value(value)
        cls = value.__class__
        if (
            (cls is float or cls is int)
            and len(memo) < 100_000
            and (-1e15 < value < 1e15 or value != value or value in (math.inf, -math.inf))
        ):
            memo[value] = text
        return text

    return memo.get, miss


def prerender_text(fam: MetricFamily) -> None:
    """Render the samples added to ``fam`` since the last call (text format), for render_text to
    reuse: a family filled in stages (a fan-out over databases) gets the text of the first stages
    made while the later ones are still being read, instead of all of it after the scrape. Only
    samples appended to the same list count; any other change to it and render_text renders the
    family afresh."""
    samples = fam.samples
    cache = fam.__dict__.get("_text_cache")
    start, chunks = (cache[1], cache[3]) if cache is not None and _cache_valid(samples, cache) else (0, [])
    if start == len(samples):
        return
    get, miss = _value_formatter()
    chunks.append("".join([f"{n}{b} {get(v) or miss(v)}\n" for n, b, v in samples[start:]]))
    fam.__dict__["_text_cache"] = (samples, len(samples), samples[-1], chunks)


def _cache_valid(samples: list, cache: tuple) -> bool:
    rendered_list, count, last, _ = cache
    return rendered_list is samples and 0 < count <= len(samples) and samples[count - 1] is last


def render_text(families: Iterable[MetricFamily]) -> str:
    """Prometheus text format 0.0.4. Families with no samples are left out, as Go does."""
    out: list[str] = []
    append = out.append
    get, miss = _value_formatter()
    for fam in families:
        samples = fam.samples
        if not samples:
            continue
        append(f"# HELP {fam.name} {_escape_help(fam.help)}\n# TYPE {fam.name} {fam.type}\n")
        cache = fam.__dict__.get("_text_cache")
        if cache is not None and _cache_valid(samples, cache):
            out.extend(cache[3])
            samples = samples[cache[1] :]
        append("".join([f"{n}{b} {get(v) or miss(v)}\n" for n, b, v in samples]))
    return "".join(out)


def render_openmetrics(families: Iterable[MetricFamily]) -> str:
    """OpenMetrics 1.0.0. A counter family is named without ``_total`` and its
    samples always carry it (as Go's expfmt does); untyped becomes unknown."""
    out: list[str] = []
    append = out.append
    get, miss = _value_formatter()
    for fam in families:
        if not fam.samples:
            continue
        name, typ = fam.name, fam.type
        rename_from = rename_to = None
        if typ == COUNTER:
            if name.endswith("_total"):
                name = name[:-6]
            else:
                rename_from, rename_to = fam.name, fam.name + "_total"
        elif typ == UNTYPED:
            typ = "unknown"
        samples = fam.samples
        if typ == COUNTER:  # OpenMetrics forbids a NaN total (a NULL stats_reset): leave it out
            samples = [s for s in samples if s[2] == s[2]]
            if not samples:
                continue
        append(f"# HELP {name} {_escape_help(fam.help)}\n# TYPE {name} {typ}\n")
        if rename_from is None:
            append("".join([f"{n}{b} {get(v) or miss(v)}\n" for n, b, v in samples]))
        else:
            append("".join([f"{rename_to if n == rename_from else n}{b} {get(v) or miss(v)}\n" for n, b, v in samples]))
    append("# EOF\n")
    return "".join(out)
