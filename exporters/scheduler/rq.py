"""RQ (python-rq) queues, read from RQ's raw Redis keys: no ``rq`` import, no write, no Lua.

Keys read (RQ 1.x, 2.x and 3.0 share them; ``rq`` is the default ``RQ_KEY_PREFIX``):

* ``rq:queues`` (SET of ``rq:queue:<name>``), ``rq:queue:<name>`` (LIST of job ids, oldest first);
* registries, ZSETs per queue: ``rq:wip:<q>`` (started; score = heartbeat expiry; members are
  ``<job>:<execution>`` since 2.0), ``rq:finished:<q>`` (score = finish + result_ttl),
  ``rq:failed:<q>`` (score = failure + failure_ttl), ``rq:deferred:<q>``, ``rq:scheduled:<q>``
  (score = run time), ``rq:canceled:<q>``. A TTL of -1 means "kept forever": ``+inf`` in the
  finished registry, ``-1`` in RQ 3.0's failed registry (its ``add`` keeps a negative TTL as the
  score), which RQ's cleanup (scores 0..now) never removes;
* ``rq:job:<id>`` (HASH: ``data`` = zlib(serializer((func, instance, args, kwargs))), UTC strings
  ``enqueued_at`` / ``started_at`` / ``ended_at``, ``result`` before 1.12);
* ``rq:results:<id>`` (STREAM, 1.12+: ``return_value`` = base64(serializer(value)));
* ``rq:workers:<q>`` (SET of ``rq:worker:<name>``, may hold dead members), ``rq:suspended``;
* ``rq:scheduler:scheduled_jobs`` (ZSET, rq-scheduler: job id -> next run), whose jobs' ``meta``
  (``interval`` / ``cron_string``) make them recurring jobs.

Payloads are decoded without running code: pickles through an Unpickler whose ``find_class``
refuses every global, so only plain containers, strings and numbers load; JSON as JSON.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import pickle
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.errors import describe_error
from ..core.helpers import as_text
from .backend import QueueState, Recurring, RedisReader, overdue_grace
from .contract import UNDECODABLE, FinishedJob

log = logging.getLogger("flextime.scheduler")

PREFIX = "rq"
SCHEDULED_KEY = "rq:scheduler:scheduled_jobs"  # rq-scheduler's jobs, by next run (epoch seconds)
MAX_RECURRING = 100
QUEUE_PREFIX = f"{PREFIX}:queue:"
INF_SCORE = 1e300  # finite upper bound that excludes +inf members (TTL -1)
FOREVER_RANGES = (("+inf", "+inf"), ("-inf", "(0"))  # score ranges of kept-forever entries (see above)
SLACK = 5  # seconds: integer scores, clock skew between workers and Redis
MAX_PAYLOAD = 4 << 20  # bytes a decompressed payload may have; more is UNDECODABLE
WINDOW_LIMIT = 20_000  # entries one window may return per scrape; more is a history gap
SHORT_TTL = 60  # entries of TTLs up to this are found by a band of their own, then learned
SCAN_CHUNK = 64  # live registry entries looked at per scrape and registry to discover unknown TTLs
# job hashes the discovery scan may probe per scrape, over all of a reader's registries: a chunk
# that needs more waits for a later scrape (registries take turns), so a first pass through a long
# history costs a bounded few probes per scrape, not SCAN_CHUNK per registry (640 for 10 queues)
SCAN_PROBES = 64
MAX_CLASSES = 64
MAX_INF_SEEN = 200_000
MAX_CLASSIFIED = 200_000  # classified live entries remembered per reader, shared by its registries (~20 MiB)
MAX_SCANNED = 100_000  # scores whose scanned members' digest is remembered per reader, shared likewise (~10 MiB)
MAX_WORKER_KEYS = 1000
ACTIVE_CHECKED = 1000  # started jobs whose start time is read per queue (the longest-running one)
DEFAULT_TTL = {"finished": 500, "failed": 31_536_000}
REGISTRIES = ("finished", "failed")  # the registries whose entries are counted once each
STATE_KEYS = (
    ("queued", None),
    ("started", "wip"),
    ("finished", "finished"),
    ("failed", "failed"),
    ("deferred", "deferred"),
    ("scheduled", "scheduled"),
    ("canceled", "canceled"),
)


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):  # noqa: D401 - pickle API
        raise pickle.UnpicklingError("globals are not loaded")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not loaded")


def _inflate(raw: bytes) -> bytes | None:
    try:
        d = zlib.decompressobj()
        out = d.decompress(raw, MAX_PAYLOAD)
        if d.unconsumed_tail:
            return None
        return out
    except zlib.error:
        return None


def safe_loads(raw: bytes | None) -> Any:
    """A serialized value (pickle or JSON) with no code run; UNDECODABLE when it cannot be."""
    if raw is None:
        return None
    if not raw:
        return UNDECODABLE
    if raw[:1] == b"\x80" or raw[:1] in (b"(", b"]", b"}"):  # pickle: PROTO opcode, or protocol 0/1 MARK
        try:
            return _NoGlobals(io.BytesIO(raw)).load()
        except Exception:  # UnpicklingError, EOFError, ValueError, RecursionError, MemoryError...
            return UNDECODABLE
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return UNDECODABLE


def _call(raw: bytes | None) -> Any:
    """The stored call (func, instance, args, kwargs); None when absent, UNDECODABLE when unreadable."""
    if raw is None:
        return None
    inflated = _inflate(raw)
    if inflated is None:
        return UNDECODABLE
    call = safe_loads(inflated)
    if not isinstance(call, (list, tuple)) or len(call) != 4:
        return UNDECODABLE
    return call


def job_name(raw: bytes | None) -> str | None:
    """The job's function as RQ stored it (``module.function``): the job_name label."""
    call = _call(raw)
    if call is None or call is UNDECODABLE:
        return None
    return call[0][:256] if isinstance(call[0], str) else None


def job_data(raw: bytes | None) -> Any:
    """The contract's ``data`` root of an RQ job: the call's kwargs merged over its first
    positional argument when that is a dict ({} when neither is); UNDECODABLE when the
    stored call cannot be read safely."""
    call = _call(raw)
    if call is None or call is UNDECODABLE:
        return call
    _func, _instance, args, kwargs = call
    out: dict = {}
    if isinstance(args, (list, tuple)) and args and isinstance(args[0], dict):
        out.update(args[0])
    if isinstance(kwargs, dict):
        out.update(kwargs)
    return out


def parse_time(raw: bytes | None) -> float | None:
    """RQ's UTC timestamp strings (``%Y-%m-%dT%H:%M:%S.%fZ``, older without fraction) as epoch s.
    ``fromisoformat`` (C) rather than ``strptime``: a first scrape over a long history parses
    hundreds of these, at 0.4 instead of 7 us each."""
    if not raw or not raw.endswith(b"Z") or raw[10:11] != b"T":
        return None
    try:
        return datetime.fromisoformat(raw.decode("ascii")).timestamp()
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class _Cursor:
    """Where consume() is in one registry (finished or failed) of one queue."""

    last: float | None = None  # Redis time of the previous consume
    classes: set[int] = field(default_factory=set)  # TTLs (score - finish) seen in this registry
    seen: dict[bytes, tuple[float, int | None]] = field(default_factory=dict)  # member -> (score, class)
    forever_count: int = 0  # entries kept forever (FOREVER_RANGES) at the previous read
    forever_seen: set[bytes] = field(default_factory=set)
    scan_from: float = 0.0  # the rotating discovery scan's position (score)
    # hash(member) -> score of live entries already classified (probed or counted): the discovery
    # scan does not probe them again, so an idle scrape probes only entries it has never looked at
    classified: dict[int, float] = field(default_factory=dict)
    # score -> digest of the members the discovery scan saw at that score, all classified then: a
    # group found unchanged on a later pass is not probed again. One entry per score, not per
    # member, so a history larger than ``classified`` holds does not make every pass probe again
    scanned: dict[float, int] = field(default_factory=dict)
    scanned_floor: float = float("inf")  # the lowest score in ``scanned``: nothing to forget before it
    classified_floor: float = float("inf")  # likewise for ``classified``


Pair = tuple[str, str]  # (queue, registry)


@dataclass
class _Pass:
    """What one consume() found in its reads, per (queue, registry), before anything is applied."""

    now: float  # Redis time of this consume
    cursors: dict[Pair, _Cursor]
    gaps: set[str] = field(default_factory=set)  # queues whose history has a gap
    candidates: dict[Pair, dict[bytes, float]] = field(default_factory=dict)  # maybe newly finished -> score
    probes: dict[Pair, dict[bytes, float]] = field(default_factory=dict)  # entries to learn the TTL class of
    forever_count: dict[Pair, int] = field(default_factory=dict)  # kept-forever entries now
    forever_members: dict[Pair, list[bytes]] = field(default_factory=dict)  # read when their count changed
    next_scan: dict[Pair, float] = field(default_factory=dict)  # where the discovery scan goes on
    scanned: dict[Pair, dict[float, int]] = field(default_factory=dict)  # score groups the scan classified
    jobs: dict[Pair, dict[bytes, dict]] = field(default_factory=dict)  # the candidates' job hashes
    new_classes: dict[Pair, set[int]] = field(default_factory=dict)  # TTL classes learned in this consume

    def __post_init__(self) -> None:
        for pair in self.cursors:
            self.candidates[pair], self.probes[pair], self.new_classes[pair] = {}, {}, set()
            self.scanned[pair] = {}
            self.forever_count[pair] = 0


class RQReader(RedisReader):
    """Reads RQ queues. Counters are kept incrementally and exactly once:

    RQ's finished and failed registries are ZSETs scored by ``finish + TTL`` (``+inf`` for TTL -1, or
    ``-1`` in RQ 3.0's failed registry: "kept forever"). A job finishing at ``t`` with TTL ``L`` lands
    at ``floor(t) + L``. The reader learns the TTLs in use (its "classes": the registry's default, those
    of the newest entries at the first read, and ``score - ended_at`` of every job it reads). At each
    scrape, with ``N`` the Redis time and ``P`` the previous scrape's, it reads for each class only the
    band ``[P + L - SLACK, N + L + SLACK]`` (``started_at + L`` at the first scrape), i.e. the jobs that
    finished since the last scrape, never the history kept. A job is counted when its member is not in
    ``seen`` (member -> score of the bands just read; entries leave it once they fall below their
    class's next band, so it holds only the overlap) and its ``ended_at`` >= started_at. Kept-forever
    members are unordered: they are re-read only when their ZCOUNT changes. A TTL never seen before is
    found by a band ``[P - SLACK, N + SHORT_TTL + SLACK]`` (TTLs up to a minute), a rotating scan of
    ``SCAN_CHUNK`` live entries per scrape and registry (an entry, or a score's group of entries,
    looked at once is not probed again while remembered; at most ``SCAN_PROBES`` job hashes probed
    per scrape, the registries taking turns), or by falling into another band (only ``ended_at`` of those
    entries is read): its jobs are counted, the class is added and one catch-up band from ``started_at``
    is read in the same scrape. All reads come first; the ledger is updated afterwards with no await in
    between, so a cancelled scrape counts nothing twice.

    Registry entries whose job hash already expired are still counted (labels ``unknown``, no
    duration); a band that had to be cut (WINDOW_LIMIT) or a class whose TTL is shorter than
    the time between scrapes (its entries may have been cleaned up unseen) is a history gap.
    """

    kind = "rq"

    def __init__(self, config, ledger, timeout: float = 5.0, started_at: float | None = None) -> None:
        super().__init__(config, ledger, timeout, started_at)
        self._cursors: dict[tuple[str, str], _Cursor] = {}
        self._bad_patterns: set[tuple[str, str, str]] = set()
        self._scan_turn = 0  # which registry's scan chunk goes first for SCAN_PROBES (see _take_scans)

    # ------------------------------------------------------------------ plumbing
    async def _run(self, build) -> list:
        pipe = self.redis.pipeline(transaction=False)
        build(pipe)
        if not len(pipe):
            return []
        return await pipe.execute(raise_on_error=True)

    async def _queues(self) -> list[str]:
        if not self.config.discover:
            return list(self.config.queues)
        members = await self.redis.smembers(f"{PREFIX}:queues")
        names = sorted(
            {as_text(m)[len(QUEUE_PREFIX) :] for m in members if as_text(m).startswith(QUEUE_PREFIX)}
            | set(self.config.queues)
        )
        return names[: max(0, self.config.max_queues)]

    @staticmethod
    def _now(reply) -> float:
        sec, usec = reply
        return int(sec) + int(usec) / 1e6

    # ------------------------------------------------------------------ gauges
    async def read_states(self) -> list[QueueState]:
        queues = await self._queues()

        def first(pipe):
            pipe.time()
            pipe.exists(f"{PREFIX}:suspended")
            for q in queues:
                pipe.llen(QUEUE_PREFIX + q)
                for _, reg in STATE_KEYS[1:]:
                    pipe.zcard(f"{PREFIX}:{reg}:{q}")
                pipe.zrange(f"{PREFIX}:wip:{q}", 0, ACTIVE_CHECKED - 1)
                pipe.lindex(QUEUE_PREFIX + q, 0)
                pipe.sismember(f"{PREFIX}:queues", QUEUE_PREFIX + q)  # RQ lists every queue it enqueued to
                pipe.smembers(f"{PREFIX}:workers:{q}")

        replies = await self._run(first)
        now = self._now(replies[0])
        suspended = bool(replies[1])
        per = len(STATE_KEYS) + 4
        rows = [replies[2 + i * per : 2 + (i + 1) * per] for i in range(len(queues))]
        workers = [sorted(r[-1])[:MAX_WORKER_KEYS] for r in rows]

        def second(pipe):
            for q, r, w in zip(queues, rows, workers):
                if r[-3] is not None:
                    pipe.hget(f"{PREFIX}:job:" + as_text(r[-3]), "enqueued_at")
                pipe.zcount(f"{PREFIX}:scheduled:{q}", "-inf", now)
                pipe.zcount(f"{PREFIX}:wip:{q}", "-inf", f"({now}")
                for key in w:
                    pipe.exists(key)
                for member in r[-4]:  # <job>:<execution> since RQ 2.0, the job id before
                    pipe.hget(f"{PREFIX}:job:" + as_text(member).split(":", 1)[0], "started_at")

        more = iter(await self._run(second))
        out = []
        for q, r, w in zip(queues, rows, workers):
            jobs = {state: int(n) for (state, _), n in zip(STATE_KEYS, r[: len(STATE_KEYS)])}
            age = 0.0
            if r[-3] is not None:
                enqueued = parse_time(next(more))
                age = max(0.0, now - enqueued) if enqueued is not None else 0.0
            overdue = int(next(more))
            stalled = int(next(more))
            live = sum(1 for _ in w if next(more))
            starts = [t for t in (parse_time(next(more)) for _ in r[-4]) if t is not None]
            exists = bool(r[-2]) or any(jobs.values())  # a queue with jobs exists, listed or not
            out.append(
                QueueState(
                    q,
                    jobs,
                    oldest_waiting_age=age,
                    workers=live,
                    paused=suspended,
                    overdue=overdue,
                    stalled=stalled,
                    exists=exists,
                    longest_active_age=max(0.0, now - min(starts)) if starts else 0.0,
                )
            )
        recurring = await self._recurring(set(queues), now)
        for st in out:
            st.recurring = recurring.get(st.queue, [])
        return out

    async def _recurring(self, queues: set[str], now: float) -> dict[str, list[Recurring]]:
        """rq-scheduler's periodic jobs (``interval`` or ``cron_string`` in the job's meta) of these
        queues: due next (their score in ``rq:scheduler:scheduled_jobs``), last finished (the job's
        ``ended_at``: rq-scheduler enqueues the same job each time), interval, overdue. One-off
        scheduled jobs are not recurring. The MAX_RECURRING due soonest are looked at."""
        from redis.exceptions import ResponseError

        try:
            entries = await self.redis.zrange(SCHEDULED_KEY, 0, MAX_RECURRING - 1, withscores=True)
        except ResponseError:  # not a ZSET: not rq-scheduler's; the queues are still served
            return {}
        if not entries:
            return {}

        def build(pipe):
            for member, _ in entries:
                pipe.hmget(f"{PREFIX}:job:{as_text(member)}", "origin", "meta", "ended_at")

        out: dict[str, list[Recurring]] = {}
        for (member, score), (origin, meta_raw, ended) in zip(entries, await self._run(build)):
            queue = as_text(origin) if origin is not None else None
            if queue not in queues or len(member) > 128:
                continue
            meta = safe_loads(meta_raw) if meta_raw else None
            if not isinstance(meta, dict) or not (meta.get("interval") or meta.get("cron_string")):
                continue
            name = as_text(member)
            interval = None
            if isinstance(meta.get("interval"), (int, float)) and meta["interval"] > 0:
                interval = float(meta["interval"])
            elif isinstance(meta.get("cron_string"), str):
                interval = self._cron_interval(queue, name, meta["cron_string"], score)
            out.setdefault(queue, []).append(
                Recurring(
                    name=name,
                    next_run=score,
                    last_run=parse_time(ended),
                    interval=interval,
                    overdue=now - score > overdue_grace(interval),
                )
            )
        return out

    def _cron_interval(self, queue: str, name: str, pattern: str, after: float) -> float | None:
        key = (queue, name, pattern)
        if key in self._bad_patterns:
            return None
        try:
            from .bullmq import cron_interval

            return cron_interval(pattern, None, after)  # rq-scheduler: UTC unless use_local_timezone
        except Exception as exc:
            if len(self._bad_patterns) < 1000:
                self._bad_patterns.add(key)
                log.warning(
                    "backend %s: queue %s: recurring job %s: cron string %r does not parse (%s); overdue after 60 s",
                    self.display,
                    queue,
                    name[:64],
                    pattern[:64],
                    describe_error(exc)[:120],
                )
            return None

    # ------------------------------------------------------------------ counters
    def _cursor(self, q: str, reg: str) -> _Cursor:
        cur = self._cursors.get((q, reg))
        if cur is None:
            cur = self._cursors[(q, reg)] = _Cursor(classes={DEFAULT_TTL[reg]})
        return cur

    def _bands(self, cur: _Cursor, now: float) -> list[tuple[float, float]]:
        lo_base = cur.last if cur.last is not None else self.started_at
        bands = sorted((int(lo_base) + ttl - SLACK, now + ttl + SLACK) for ttl in cur.classes)
        merged: list[list[float]] = []
        for lo, hi in bands:
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        return [(lo, hi) for lo, hi in merged]

    async def consume(self) -> None:
        """Count the jobs that finished since the previous consume, in named steps: every read
        first (``_Pass`` gathers what they found), then the ledger, with no await in between."""
        queues = await self._queues()
        pairs = [(q, reg) for q in queues for reg in REGISTRIES]
        now = self._now(await self.redis.time())
        step = _Pass(now, {pair: self._cursor(*pair) for pair in pairs})
        await self._read_bands_and_scans(step)
        await self._read_kept_forever(step)
        # the job hashes of the candidates, and ended_at of the probes (to learn unknown TTL classes)
        step.jobs = await self._read_jobs(step.candidates)
        self._learn_classes(step, await self._probe_ends(step.probes))
        await self._catch_up_new_classes(step)
        records = self._finished_jobs(step)
        self._apply(step, queues, records)  # synchronous from here on

    async def _read_bands_and_scans(self, step: _Pass) -> None:
        """Per registry: the bands of its known TTL classes, the kept-forever count, the rotating
        discovery scan, the short-TTL band (and a sample of the newest entries at the first read)."""
        plan: list[tuple[Pair, str]] = []
        scans: list[tuple[Pair, list]] = []

        def reads(pipe):
            for pair, cur in step.cursors.items():
                key = f"{PREFIX}:{pair[1]}:{pair[0]}"
                for lo, hi in self._bands(cur, step.now):
                    pipe.zrangebyscore(key, lo, hi, start=0, num=WINDOW_LIMIT, withscores=True)
                    plan.append((pair, "band"))
                for lo, hi in FOREVER_RANGES:
                    pipe.zcount(key, lo, hi)
                    plan.append((pair, "forevercount"))
                pipe.zrangebyscore(
                    key, f"({max(cur.scan_from, step.now)}", INF_SCORE, start=0, num=SCAN_CHUNK, withscores=True
                )
                plan.append((pair, "scan"))
                base = cur.last if cur.last is not None else self.started_at
                pipe.zrangebyscore(
                    key, int(base) - SLACK, step.now + SHORT_TTL + SLACK, start=0, num=WINDOW_LIMIT, withscores=True
                )
                plan.append((pair, "short"))
                if cur.last is None:
                    pipe.zrevrangebyscore(key, INF_SCORE, 0, start=0, num=SCAN_CHUNK, withscores=True)
                    plan.append((pair, "sample"))

        replies = await self._run(reads)
        for (pair, what), reply in zip(plan, replies):
            cur = step.cursors[pair]
            candidates, probes = step.candidates[pair], step.probes[pair]
            if what == "band":
                if len(reply) >= WINDOW_LIMIT:
                    step.gaps.add(pair[0])
                for member, score in reply:
                    if member not in cur.seen:
                        candidates[member] = score
            elif what == "forevercount":
                step.forever_count[pair] += int(reply)
            elif what == "scan":
                scans.append((pair, reply))
            elif what in ("sample", "short"):
                for member, score in reply:
                    if member not in candidates and hash(member) not in cur.classified:
                        probes[member] = score
        self._take_scans(step, scans)

    def _take_scans(self, step: _Pass, scans: list[tuple[Pair, list]]) -> None:
        """The discovery scan's chunks, registries taking turns: a chunk whose entries to probe do
        not fit in what is left of SCAN_PROBES is left for a later scrape (its position stays),
        except the first chunk of the turn, so every scrape makes progress."""
        if not scans:
            return
        scans = sorted(scans, key=lambda scan: scan[0])  # a stable order (SMEMBERS has none) for the turns
        turn = self._scan_turn % len(scans)
        self._scan_turn += 1
        budget = SCAN_PROBES
        for n, (pair, reply) in enumerate(scans[turn:] + scans[:turn]):
            cur, candidates, probes = step.cursors[pair], step.candidates[pair], step.probes[pair]
            groups: dict[float, int] = {}
            found: dict[bytes, float] = {}
            for score, members in _by_score(reply):
                digest = hash(tuple(members))
                if cur.scanned.get(score) == digest:
                    continue  # the same members as when this score was scanned last: all classified
                groups[score] = digest
                for member in members:
                    if (
                        member not in cur.seen
                        and member not in candidates
                        and member not in probes
                        and hash(member) not in cur.classified
                    ):
                        found[member] = score
            if found and n and len(found) > budget:
                step.next_scan[pair] = cur.scan_from  # its turn comes again
                continue
            budget -= len(found)
            probes.update(found)
            step.scanned[pair].update(groups)
            step.next_scan[pair] = reply[-1][1] if len(reply) == SCAN_CHUNK else 0.0

    async def _read_kept_forever(self, step: _Pass) -> None:
        """Kept-forever members (TTL -1) are unordered: re-read only when their number changed."""
        changed = [
            pair
            for pair in step.cursors
            if step.forever_count[pair] and step.forever_count[pair] != step.cursors[pair].forever_count
        ]
        if not changed:
            return

        def reads(pipe):
            for pair in changed:
                for lo, hi in FOREVER_RANGES:
                    pipe.zrangebyscore(f"{PREFIX}:{pair[1]}:{pair[0]}", lo, hi, start=0, num=MAX_INF_SEEN)

        replies = iter(await self._run(reads))
        for pair in changed:
            members = step.forever_members[pair] = []
            for _ in FOREVER_RANGES:
                part = next(replies)
                if len(part) >= MAX_INF_SEEN:
                    step.gaps.add(pair[0])
                members += part
            for member in members:
                if member not in step.cursors[pair].forever_seen:
                    step.candidates[pair][member] = float("inf")  # one score for both ranges: "kept forever"

    @staticmethod
    def _learn_classes(step: _Pass, probe_ends) -> None:
        """TTL classes not known yet, from the probes' and the candidates' ``score - ended_at``."""
        for pair, cur in step.cursors.items():
            new = step.new_classes[pair]
            entries = [(step.probes[pair][member], ended) for member, (ended, _) in probe_ends[pair].items()]
            entries += [(step.candidates[pair][member], job.get("ended")) for member, job in step.jobs[pair].items()]
            for score, ended in entries:
                ttl = _class_of(score, ended)
                if ttl is not None and not _known(ttl, cur.classes | new) and len(cur.classes) + len(new) < MAX_CLASSES:
                    new.add(ttl)

    async def _catch_up_new_classes(self, step: _Pass) -> None:
        """For a TTL class just learned: one catch-up band from started_at, read in this consume."""
        learned = [pair for pair in step.cursors if step.new_classes[pair]]
        if not learned:
            return
        plan: list[tuple[Pair, int]] = []

        def reads(pipe):
            for pair in learned:
                for ttl in sorted(step.new_classes[pair]):
                    pipe.zrangebyscore(
                        f"{PREFIX}:{pair[1]}:{pair[0]}",
                        int(self.started_at) + ttl - SLACK,
                        step.now + ttl + SLACK,
                        start=0,
                        num=WINDOW_LIMIT,
                        withscores=True,
                    )
                    plan.append((pair, ttl))

        found: dict[Pair, dict[bytes, float]] = {pair: {} for pair in step.cursors}
        for (pair, _), reply in zip(plan, await self._run(reads)):
            if len(reply) >= WINDOW_LIMIT:
                step.gaps.add(pair[0])
            for member, score in reply:
                if member not in step.cursors[pair].seen and member not in step.candidates[pair]:
                    found[pair][member] = score
        found_jobs = await self._read_jobs(found)
        for pair in learned:
            for member, job in found_jobs[pair].items():
                # only the jobs of a class just learned are new: the others are covered by their bands
                if _known(_class_of(found[pair][member], job.get("ended")), step.new_classes[pair]):
                    step.candidates[pair][member] = found[pair][member]
                    step.jobs[pair][member] = job

    def _finished_jobs(self, step: _Pass) -> list[FinishedJob]:
        """The candidates that are jobs finished since the previous consume, each once: an entry
        outside its own class's band was (or will be) counted when that band is read."""
        records: list[FinishedJob] = []
        for (q, reg), cur in step.cursors.items():
            base = int(cur.last if cur.last is not None else self.started_at)
            for member, score in step.candidates[(q, reg)].items():
                job = step.jobs[(q, reg)].get(member)
                if job is None:
                    continue
                if score != float("inf"):
                    ttl = _class_of(score, job.get("ended"))
                    own = _match(ttl, cur.classes)
                    if own is not None and not base + own - SLACK <= score <= step.now + own + SLACK:
                        continue  # outside its own class's band: counted when that band was read
                    if ttl is None and not any(base + c - SLACK <= score <= step.now + c + SLACK for c in cur.classes):
                        continue
                ended = job.get("ended")
                if ended is not None and ended < self.started_at:
                    continue
                records.append(
                    FinishedJob(
                        queue=q,
                        job_id=as_text(member),
                        failed=(reg == "failed"),
                        started=job.get("started"),
                        finished=ended,
                        data=job.get("data"),
                        result=None if reg == "failed" else job.get("result"),
                        ready=job.get("ready"),
                        name=job.get("name"),
                        retries=job.get("retries"),
                    )
                )
        return records

    def _apply(self, step: _Pass, queues: list[str], records: list[FinishedJob]) -> None:
        """Move the cursors on and update the ledger: synchronous, so a cancelled scrape counts nothing twice."""
        now = step.now
        for q in queues:
            self.ledger.declare_queue(self.name, q)
        for pair, cur in step.cursors.items():
            if cur.last is not None:
                interval = now - cur.last
                # an entry of TTL L leaves the registry (RQ's cleanup) from int(finish) + L on: with
                # more than L + 1 s between two reads some may have gone unread
                if any(ttl + 1 < interval for ttl in cur.classes):
                    step.gaps.add(pair[0])
            cur.classes |= step.new_classes[pair]
            jobs = step.jobs[pair]
            for member, score in step.candidates[pair].items():
                if member not in jobs:
                    continue
                if score == float("inf"):
                    cur.forever_seen.add(member)
                else:
                    ttl = _class_of(score, jobs[member].get("ended"))
                    cur.seen[member] = (score, _match(ttl, cur.classes) if ttl is not None else None)
            cur.forever_count = step.forever_count[pair]
            _remember_classified(
                cur,
                [*step.probes[pair].items(), *step.candidates[pair].items()],
                now,
                limit=MAX_CLASSIFIED // len(step.cursors),
            )
            _remember_scanned(cur, step.scanned[pair], now, limit=MAX_SCANNED // len(step.cursors))
            cur.scan_from = step.next_scan[pair]
            cur.last = now
            # forget an entry once it is below its own class's next band (whose low end is
            # int(now) + L - SLACK, see _bands: the same expression, or an entry between int(now)
            # and now would be read again and counted twice): it cannot be new again
            cur.seen = {m: (s, c) for m, (s, c) in cur.seen.items() if s >= int(now) + (c or 0) - SLACK}
            if pair in step.forever_members:
                cur.forever_seen &= set(step.forever_members[pair])
        for job in records:
            self.ledger.record(self.name, job)
        for q in sorted(step.gaps):
            self.ledger.gap(self.name, q)

    async def _read_jobs(self, candidates) -> dict[tuple[str, str], dict[bytes, dict]]:
        order = [(p, m) for p, ms in candidates.items() for m in ms]
        out: dict[tuple[str, str], dict[bytes, dict]] = {p: {} for p in candidates}
        if not order:
            return out

        def build(pipe):
            for _, m in order:
                jid = as_text(m)
                pipe.hmget(
                    f"{PREFIX}:job:{jid}",
                    "data",
                    "started_at",
                    "ended_at",
                    "result",
                    "status",
                    "enqueued_at",
                    "number_of_retries",
                )
                pipe.xrevrange(f"{PREFIX}:results:{jid}", "+", "-", count=1)

        replies = await self._run(build)
        for i, (p, m) in enumerate(order):
            data, started, ended, legacy, status, enqueued, retries = replies[2 * i]
            stream = replies[2 * i + 1]
            job: dict[str, Any] = {
                "started": parse_time(started),
                "ended": parse_time(ended),
                "ready": parse_time(enqueued),
                "name": job_name(data),
            }
            try:
                job["retries"] = int(retries) if retries is not None else (None if status is None else 0)
            except ValueError:
                job["retries"] = None
            if data is None and status is None:
                job["missing"] = True  # the job hash expired: still a finished job, fields unknown
            job["data"] = job_data(data)
            result = None
            if stream:
                fields = stream[0][1]
                rv = fields.get(b"return_value")
                if rv is not None:
                    try:
                        result = safe_loads(base64.b64decode(rv, validate=False))
                    except (ValueError, TypeError):
                        result = UNDECODABLE
                if job["ended"] is None and fields.get(b"execution_ended_at"):
                    try:
                        job["ended"] = float(fields[b"execution_ended_at"])
                    except ValueError:
                        pass
            elif legacy is not None:
                result = safe_loads(legacy)
            job["result"] = result
            out[p][m] = job
        return out

    async def _probe_ends(self, probes) -> dict[tuple[str, str], dict[bytes, tuple[float | None, None]]]:
        order = [(p, m) for p, ms in probes.items() for m in ms]
        out: dict = {p: {} for p in probes}
        if not order:
            return out

        def build(pipe):
            for _, m in order:
                pipe.hget(f"{PREFIX}:job:{as_text(m)}", "ended_at")

        for (p, m), ended in zip(order, await self._run(build)):
            out[p][m] = (parse_time(ended), None)
        return out


def _remember_classified(cur: _Cursor, entries, now: float, limit: int) -> None:
    """Remember the finite-score entries just probed or read: their class is known now (or, with
    their job hash gone, cannot be learned). At ``limit``, entries RQ has expired (score below now)
    are forgotten first; what does not fit is not remembered, and is only probed again."""
    new = [
        (hash(member), score)
        for member, score in entries
        if score != float("inf") and hash(member) not in cur.classified
    ]
    if len(cur.classified) + len(new) > limit and cur.classified_floor < now:
        # only when something has expired: a full memory of live entries is not rebuilt every scrape
        cur.classified = {h: s for h, s in cur.classified.items() if s >= now}
        cur.classified_floor = min(cur.classified.values(), default=float("inf"))
    kept = new[: max(0, limit - len(cur.classified))]
    cur.classified.update(kept)
    cur.classified_floor = min([cur.classified_floor, *(score for _, score in kept)])


def _remember_scanned(cur: _Cursor, groups: dict[float, int], now: float, limit: int) -> None:
    """Remember the score groups the scan just classified; at ``limit``, scores RQ has expired
    (below now) are forgotten first, and what does not fit is not remembered (probed again)."""
    if len(cur.scanned) + len(groups) > limit and cur.scanned_floor < now:
        cur.scanned = {score: digest for score, digest in cur.scanned.items() if score >= now}
        cur.scanned_floor = min(cur.scanned, default=float("inf"))
    for score, digest in groups.items():
        if score in cur.scanned or len(cur.scanned) < limit:
            cur.scanned[score] = digest
            cur.scanned_floor = min(cur.scanned_floor, score)


def _by_score(entries) -> list[tuple[float, list[bytes]]]:
    """``(member, score)`` pairs in score order, grouped: [(score, [members in Redis' order])]."""
    groups: list[tuple[float, list[bytes]]] = []
    for member, score in entries:
        if groups and groups[-1][0] == score:
            groups[-1][1].append(member)
        else:
            groups.append((score, [member]))
    return groups


def _known(ttl: int | None, classes) -> bool:
    """Whether TTL ``ttl`` is one of ``classes`` (within 2 s: scores are whole seconds taken just
    after ended_at)."""
    return ttl is not None and any(abs(ttl - c) <= 2 for c in classes)


def _match(ttl: int | None, classes) -> int | None:
    """The known class TTL ``ttl`` belongs to (the nearest within 2 s), or None."""
    if ttl is None:
        return None
    near = [c for c in classes if abs(ttl - c) <= 2]
    return min(near, key=lambda c: abs(ttl - c)) if near else None


def _class_of(score: float, ended: float | None) -> int | None:
    """The TTL an entry was stored with: its score minus its finish second."""
    if ended is None or score == float("inf") or score != score:
        return None
    return max(0, int(round(score - int(ended))))
