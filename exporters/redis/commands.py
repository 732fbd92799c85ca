"""Collectors for the replies that are not INFO: CONFIG GET, SLOWLOG, LATENCY.

Names, types and HELP are redis_exporter 1.45's (Debian), plus the newer upstream latency
histogram. Each reads its replies from the scrape's one pipeline (session.py); a reply the server
refused (a managed Redis without CONFIG, an ACL without SLOWLOG) fails only that collector, with
the refusal's first words as the reason, logged once.
"""

from __future__ import annotations

from ..core.metrics import HISTOGRAM, MetricDef, gauge
from .info import parse_float
from .registry import RedisCollector, pairs, redis_collectors, text
from .session import CommandFailed

# CONFIG key -> metric (`databases` feeds the keyspace's empty databases)
CONFIG_METRICS = {
    "maxclients": gauge("redis_config_maxclients", "config_maxclients metric"),
    "maxmemory": gauge("redis_config_maxmemory", "config_maxmemory metric"),
    "io-threads": gauge("redis_config_io_threads", "config_io_threads metric"),
}
# client-output-buffer-limit "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60" (1.69)
BUFFER_LIMIT = gauge(
    "redis_config_client_output_buffer_limit_bytes", "The configured buffer limits per class", "class", "limit"
)
BUFFER_OVERCOME = gauge(
    "redis_config_client_output_buffer_limit_overcome_seconds",
    "How long for buffer limits per class to be exceeded before replicas are dropped",
    "class",
    "limit",
)
# --include-config-metrics (1.69): every CONFIG GET * setting
CONFIG_KEY_VALUE = gauge("redis_config_key_value", "Config key and value", "key", "value")
CONFIG_VALUE = gauge("redis_config_value", "Config key and value as metric", "key")
# Settings redis_exporter redacts under --redact-config-metrics (its default); here always, whatever the
# flag says (secrets never go into metrics), with Valkey's primaryauth and any other *pass / *auth setting.
REDACTED = frozenset({"masterauth", "primaryauth", "requirepass", "tls-key-file-pass", "tls-client-key-file-pass"})


def redacted(key: str) -> bool:
    return key in REDACTED or key.endswith(("pass", "auth", "password"))


SLOWLOG_LENGTH = gauge("redis_slowlog_length", "Total slowlog")
SLOWLOG_LAST_ID = gauge("redis_slowlog_last_id", "Last id of slowlog")
LAST_SLOW = gauge(
    "redis_last_slow_execution_duration_seconds", "The amount of time needed for last slow execution, in seconds"
)

SPIKE_LAST = gauge("redis_latency_spike_last", "When the latency spike last occurred", "event_name")
SPIKE_DURATION = gauge(
    "redis_latency_spike_duration_seconds", "Length of the last latency spike in seconds", "event_name"
)
LATENCY_HISTOGRAM = MetricDef(
    "redis_commands_latencies_usec", HISTOGRAM, "A histogram of latencies per command", ("cmd",)
)


def config_value(session, key: str) -> str | None:
    """A CONFIG GET value of this scrape, None when the server has no such key. With
    --include-config-metrics the scrape sent one CONFIG GET * instead of one GET per key."""
    name = "config:*" if "config:*" in session.replies else f"config:{key}"
    values = pairs(session.reply(name))
    return text(values[key]) if key in values else None


def buffer_limit_families(value: str):
    """redis_config_client_output_buffer_limit_*: per class its hard and soft limit (bytes) and the
    soft limit's seconds, as 1.69 reads the setting (4 words per class; a short tail is skipped)."""
    limits, overcome = BUFFER_LIMIT.family(), BUFFER_OVERCOME.family()
    words = value.split(" ")
    for i in range(0, len(words) - 3, 4):
        cls = words[i]
        for fam, word, limit in (
            (limits, words[i + 1], "hard"),
            (limits, words[i + 2], "soft"),
            (overcome, words[i + 3], "soft"),
        ):
            number = parse_float(word)
            if number is not None:
                fam.add((cls, limit), number)
    return [f for f in (limits, overcome) if f.samples]


@redis_collectors.register
class ConfigCollector(RedisCollector):
    name = "config"
    description = (
        "maxclients, maxmemory and io-threads from CONFIG GET (--config-command names a renamed "
        "CONFIG, '-' skips it: managed Redis)."
    )
    metrics = (*CONFIG_METRICS.values(), BUFFER_LIMIT, BUFFER_OVERCOME, CONFIG_KEY_VALUE, CONFIG_VALUE)

    async def collect(self):
        if self.session.config_command == "-" or self.session.sentinel:  # nothing sent, nothing to report
            return []
        out = []
        if "config:*" in self.session.replies:
            out += self.all_settings()
        for key, d in CONFIG_METRICS.items():
            value = config_value(self.session, key)
            if value is None:
                continue
            try:
                number = float(value)
            except ValueError:
                continue
            fam = d.family()
            fam.add((), number)
            out.append(fam)
        limits = config_value(self.session, "client-output-buffer-limit")
        if limits:
            out += buffer_limit_families(limits)
        return out

    def all_settings(self):
        """--include-config-metrics: every setting as redis_config_key_value, the numeric ones also as
        redis_config_value; passwords never (see REDACTED)."""
        key_value, numbers = CONFIG_KEY_VALUE.family(), CONFIG_VALUE.family()
        for key, raw in pairs(self.session.reply("config:*")).items():
            if redacted(key):
                continue
            value = text(raw)
            key_value.add((key, value), 1)
            number = parse_float(value)
            if number is not None:
                numbers.add((key,), number)
        return [key_value, numbers]


@redis_collectors.register
class SlowlogCollector(RedisCollector):
    name = "slowlog"
    description = "Length of the slow log and its latest entry (SLOWLOG LEN, SLOWLOG GET 1)."
    metrics = (SLOWLOG_LENGTH, SLOWLOG_LAST_ID, LAST_SLOW)

    async def collect(self):
        if self.session.sentinel:  # a sentinel has no SLOWLOG: not sent
            return []
        length = SLOWLOG_LENGTH.family()
        length.add((), int(self.session.reply("slowlog_len")))
        entries = self.session.reply("slowlog_get") or []
        last_id, duration = (int(entries[0][0]), int(entries[0][2]) / 1e6) if entries else (0, 0.0)
        out = [length]
        for d, v in ((SLOWLOG_LAST_ID, last_id), (LAST_SLOW, duration)):
            fam = d.family()
            fam.add((), v)
            out.append(fam)
        return out


@redis_collectors.register
class LatencyCollector(RedisCollector):
    name = "latency"
    description = (
        "Latency spikes (LATENCY LATEST) and per-command latency histograms (LATENCY HISTOGRAM, "
        "Redis 7+; --exclude-latency-histogram-metrics leaves them out)."
    )
    metrics = (SPIKE_LAST, SPIKE_DURATION, LATENCY_HISTOGRAM)

    async def collect(self):
        if self.session.sentinel:  # a sentinel has no LATENCY: not sent
            return []
        last, duration = SPIKE_LAST.family(), SPIKE_DURATION.family()
        for event in self.session.reply("latency_latest") or []:
            name = text(event[0])
            last.add((name,), int(event[1]))
            duration.add((name,), int(event[2]) / 1e3)
        out = [last, duration]
        if "latency_histogram" in self.session.replies:
            try:
                out.append(
                    histogram_family(
                        self.session.reply("latency_histogram"), commandstats_usec(self.session.reply("info"))
                    )
                )
            except CommandFailed as exc:
                if "unknown" not in str(exc).lower():  # Redis < 7 has no LATENCY HISTOGRAM: no series
                    raise
        return out


def commandstats_usec(info) -> dict[str, float]:
    """{command: total microseconds} from the ``cmdstat_<cmd>:calls=..,usec=..`` lines of INFO."""
    out = {}
    for line in text(info).splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line[len("cmdstat_") :].partition(":")
            for field in fields.split(","):
                key, _, number = field.partition("=")
                if key == "usec":
                    try:
                        out[name] = float(number)
                    except ValueError:
                        pass
    return out


def histogram_family(reply, usec: dict[str, float] | None = None):
    """LATENCY HISTOGRAM: per command, its calls and the cumulative count of calls per
    power-of-two bound in microseconds (Redis' reply is cumulative already: the LATENCY
    HISTOGRAM documentation, checked against the servers in the integration tests).
    ``_sum`` is the command's total time from INFO commandstats, as upstream redis_exporter
    takes it (LATENCY HISTOGRAM has no total); 0 for a command commandstats lacks."""
    fam = LATENCY_HISTOGRAM.family()
    usec = usec or {}
    items = list(reply or [])
    for cmd, details in zip(items[::2], items[1::2]):
        fields = pairs(details)
        buckets = pairs(fields.get("histogram_usec"))
        calls = int(fields.get("calls", 0))
        name = text(cmd)
        fam.add_histogram((name,), [(float(b), int(c)) for b, c in buckets.items()], usec.get(name, 0.0), calls)
    return fam
