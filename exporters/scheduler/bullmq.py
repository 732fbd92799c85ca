"""BullMQ queues read from their raw Redis keys (docs/scheduler.md, "BullMQ").

Read-only by construction: only LLEN, ZCARD, ZCOUNT, ZRANGE, LINDEX, LRANGE, HEXISTS, HMGET,
EXISTS, XRANGE, XINFO STREAM, SCAN and CLIENT LIST are sent, never BullMQ's Lua scripts
(its ``getCounts`` RPOPs legacy markers from ``wait``).

Finished jobs come from the queue's events stream ``<prefix>:<queue>:events``: every
``completed`` / ``failed`` entry (BullMQ writes ``failed`` only when no retry is left) is
read once, by a cursor kept per queue that starts at the exporter's start time. The stream
keeps the return value even when ``removeOnComplete`` deletes the job, and the entry IDs are
Redis timestamps, so counts, violations and durations survive the deletion. The job's
``sport`` / ``teamCount`` live only in its hash, which ``removeOnComplete`` deletes with the
job: a follower task (one blocking XREAD on every queue's stream, its own connection) reads
them as soon as a job is ``added`` or becomes ``active``, into a bounded cache; counting itself
stays at scrape time, so the follower being slow or down only costs labels (``unknown``),
never a count. The streams' ``entries-added`` (Redis 7+) tells when trimming removed entries
the cursor had not reached (a gap).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from redis.exceptions import ResponseError

from ..core.errors import describe_error
from ..core.helpers import as_text
from .backend import QueueState, Recurring, RedisReader, overdue_grace, redis_client
from .contract import UNDECODABLE, FinishedJob, decode_json, job_labels

log = logging.getLogger("flextime.scheduler")

EVENTS_PER_CALL = 1000
EVENTS_PER_SCRAPE = 200_000  # the rest is read at the next scrape
ACTIVE_CHECKED = 1000  # active jobs whose lock is checked per queue (stalled detection)
CACHE_MAX = 100_000  # jobs whose start time / labels are remembered until they finish
DISCOVERY_INTERVAL = 60.0  # seconds between background SCANs for new queues (SCAN walks the keyspace)
OVERDUE_GRACE_MS = 1000  # a delayed job this late is overdue (promotion normally takes milliseconds)
FOLLOW_BLOCK_MS = 2000  # the follower's XREAD BLOCK; the loop then looks for new queues
LABEL_EVENTS = (b"added", b"active")  # the job hash surely exists at these events
MAX_NAME = 256  # characters of a job name remembered (the label itself is bounded by the ledger)

# a queue exists when one of these keys does: the job id counter and the events stream outlive the jobs
EXISTENCE_KEYS = ("meta", "id", "events", "wait", "paused", "active", "prioritized", "delayed", "completed", "failed")
STATES = ("waiting", "paused", "active", "prioritized", "delayed", "waiting-children", "completed", "failed")


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def cron_interval(pattern: str, tz: str | None, after: float) -> float:
    """Seconds between the first two runs of ``pattern`` after epoch ``after`` (croniter; BullMQ's
    cron-parser puts seconds first in a 6-field pattern). Raises when the pattern does not parse."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from croniter import croniter

    if len(pattern) > 256:
        raise ValueError("pattern too long")
    zone = ZoneInfo(tz) if tz else timezone.utc
    it = croniter(pattern, datetime.fromtimestamp(after, zone), second_at_beginning=len(pattern.split()) == 6)
    first = it.get_next(float)
    return it.get_next(float) - first


def _id_parts(entry_id) -> tuple[int, int]:
    ms, _, seq = as_text(entry_id).partition("-")
    return int(ms), int(seq or 0)


class _QueueCursor:
    """Where one queue's events stream was read up to, and what is remembered about its
    active jobs (last ``active`` event time, labels read while the job hash existed)."""

    def __init__(self, start_ms: int) -> None:
        self.last = (start_ms, 0)  # entries after this ID are new (exclusive)
        self.added: int | None = None  # the stream's entries-added when it was last read to its end
        self.started: OrderedDict[str, int] = OrderedDict()  # job id -> ms of its last active event
        self.labels: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.ready: OrderedDict[str, int] = OrderedDict()  # job id -> ms it last became ready (added, due, retried)
        self.attempts: OrderedDict[str, int] = OrderedDict()  # job id -> active events read (attempts started)
        self.names: OrderedDict[str, str] = OrderedDict()  # job id -> name, from its added event
        self.last_runs: OrderedDict[str, int] = OrderedDict()  # job scheduler id -> ms its last job finished

    def next_id(self) -> str:
        ms, seq = self.last
        return f"{ms}-{seq + 1}"

    def follow(self, entries) -> None:
        """Note, in stream order, what the events say of jobs not finished yet: when each became
        ready (added; due when delayed; requeued by a retry), its name, its starts."""
        for entry_id, fields in entries:
            event = fields.get(b"event")
            job_id = as_text(fields.get(b"jobId", b""))
            if not job_id:
                continue
            ms = _id_parts(entry_id)[0]
            if event == b"added":  # a delayed job's "delayed" (its due time) may come first: keep the later
                self.remember(self.ready, job_id, max(ms, self.ready.get(job_id, 0)))
                if fields.get(b"name") is not None:
                    self.remember(self.names, job_id, as_text(fields[b"name"])[:MAX_NAME])
            elif event == b"delayed":
                self.remember(self.ready, job_id, _int(fields.get(b"delay")) or ms)
            elif event == b"waiting" and fields.get(b"prev") in (b"active", b"failed"):
                self.remember(self.ready, job_id, ms)  # retried at once (retryJob)
            elif event == b"active":
                self.remember(self.started, job_id, ms)
                self.remember(self.attempts, job_id, self.attempts.get(job_id, 0) + 1)

    def forget(self, job_id: str) -> None:
        for table in (self.started, self.labels, self.ready, self.attempts, self.names):
            table.pop(job_id, None)

    @staticmethod
    def remember(table: OrderedDict, key: str, value) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > CACHE_MAX:
            table.popitem(last=False)


# the key behind each reply of read_states' first pipeline, in its order
STATE_KEYS = (
    "wait",
    "paused",
    "active",
    "prioritized",
    "delayed",
    "waiting-children",
    "completed",
    "failed",
    "meta",
    "meta-paused",
    "wait",
    "paused",
    "prioritized",
    "delayed",
    "active",
    "meta",
    "repeat",
)
MAX_RECURRING = 100  # recurring jobs read per queue (the soonest due first: the overdue ones are among them)
MAX_RECURRING_NAME = 128  # a longer job scheduler id is left out (logged once): label values stay bounded


class BullMQReader(RedisReader):
    kind = "bullmq"

    def __init__(self, config, ledger, timeout: float = 5.0, started_at: float | None = None) -> None:
        super().__init__(config, ledger, timeout, started_at)
        self.prefix = config.prefix
        self.cursors: dict[str, _QueueCursor] = {}
        self._discovered: tuple[str, ...] = ()
        self._discovered_at = 0.0
        self.queues_over_limit = 0
        self._follower: asyncio.Task | None = None
        self._discovery: asyncio.Task | None = None
        self.queue_errors: dict[str, str] = {}  # queue -> why it could not be read in this scrape
        self._bad_patterns: set[tuple[str, str, str]] = set()  # recurring job patterns already logged
        self._long_names: set[str] = set()

    def key(self, queue: str, suffix: str) -> str:
        return f"{self.prefix}:{queue}:{suffix}"

    def _queue_failed(self, queue: str, key: str, exc: BaseException) -> None:
        """One queue could not be read (a key of the wrong type): the other queues are served; the
        error names the queue and the key (a key name of this prefix, never a secret)."""
        self.queue_errors[queue] = f"queue {queue}: key {key}: {describe_error(exc)}"

    # ---- queues ---------------------------------------------------------------------------------
    async def queues(self) -> tuple[str, ...]:
        """The configured queues, or with discovery the last list found. SCAN walks the whole
        keyspace (job hashes too: it grows with the history kept), so after the first time it
        runs in the background, at most once a minute, and a scrape never waits for it."""
        if not self.config.discover:
            return self.config.queues
        running = self._discovery is not None and not self._discovery.done()
        if not self._discovered_at:  # nothing found yet: this caller waits for the first SCAN
            if not running:
                self._discovery = asyncio.get_running_loop().create_task(self._discover())
            await asyncio.shield(self._discovery)
        elif not running and time.monotonic() - self._discovered_at >= DISCOVERY_INTERVAL:
            self._discovery = asyncio.get_running_loop().create_task(self._discover())
            self._discovery.add_done_callback(self._discovery_done)
        return self._discovered

    def _discovery_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.debug("backend %s: discovery: %s", self.display, describe_error(task.exception()))

    async def _discover(self) -> None:
        found: set[str] = set(self.config.queues)
        head, tail = f"{self.prefix}:", ":meta"
        cursor: int | None = None
        while cursor != 0:
            async with asyncio.timeout(self.timeout):  # each SCAN page: the client has no reply timeout
                cursor, keys = await self.redis.scan(cursor or 0, match=f"{self.prefix}:*:meta", count=1000)
            for key in keys:
                name = as_text(key)
                if name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail):
                    found.add(name[len(head) : -len(tail)])  # never split on ':' (queue names may hold it)
        ordered = sorted(found)
        self.queues_over_limit = max(0, len(ordered) - self.config.max_queues)
        self._discovered = tuple(ordered[: self.config.max_queues])
        self._discovered_at = time.monotonic()

    def _cursor(self, queue: str) -> _QueueCursor:
        cursor = self.cursors.get(queue)
        if cursor is None:
            cursor = self.cursors[queue] = _QueueCursor(int(self.started_at * 1000))
            self.ledger.declare_queue(self.name, queue)
        return cursor

    # ---- finished jobs --------------------------------------------------------------------------
    async def consume(self) -> None:
        client = self.redis
        queues = await self.queues()
        batches: dict[str, list] = {}
        gaps: list[str] = []
        added_now: dict[str, int | None] = {}
        self.queue_errors = {}
        for queue in queues:
            try:
                entries, gap, added = await self._read_stream(client, queue, self._cursor(queue))
            except ResponseError as exc:  # one queue's key of the wrong type: that queue only
                self._queue_failed(queue, self.key(queue, "events"), exc)
                continue
            batches[queue] = entries
            added_now[queue] = added
            if gap:
                gaps.append(queue)
        # one pipeline for every job hash this batch needs: finished jobs, and jobs seen starting
        pipe = client.pipeline(transaction=False)
        wanted: list[tuple[str, str, str]] = []  # (queue, job id, why)
        plans: dict[str, list] = {}
        for queue, entries in batches.items():
            finished = []
            for entry_id, fields in entries:
                event = as_text(fields.get(b"event", b""))
                job_id = as_text(fields.get(b"jobId", b""))
                if event in ("completed", "failed") and job_id:
                    finished.append(
                        (entry_id, job_id, event == "failed", _id_parts(entry_id)[0], fields.get(b"returnvalue"))
                    )
            plans[queue] = finished
            for _, job_id, *_ in finished:
                pipe.hmget(
                    self.key(queue, job_id), "data", "processedOn", "finishedOn", "name", "timestamp", "delay", "atm"
                )
                wanted.append((queue, job_id, "finished"))
        replies = await pipe.execute(raise_on_error=False) if wanted else []
        for (queue, job_id, _), reply in zip(wanted, replies):
            if isinstance(reply, ResponseError):  # read as a job whose hash is gone
                self._queue_failed(queue, self.key(queue, job_id), reply)
        replies = [None if isinstance(r, Exception) else r for r in replies]
        # ---- apply: no await from here on, so a cancelled scrape leaves no half-applied batch
        hashes = {(q, j, why): r for (q, j, why), r in zip(wanted, replies)}
        for queue, entries in batches.items():
            cursor = self.cursors[queue]
            cursor.follow(entries)
            finished = plans[queue]
            for _entry_id, job_id, failed, ms, returnvalue in finished:
                data_raw, processed_on, finished_on, name, stamp, delay, atm = (
                    hashes.get((queue, job_id, "finished")) or (None,) * 7
                )
                started = _int(processed_on)
                ended = _int(finished_on)
                if started is None or ended is None:  # the hash is gone: the events' own times
                    started, ended = cursor.started.get(job_id), ms
                # ready: from the events when they were all read (they follow retries and delays), else
                # the hash's creation time plus delay; retries: the hash's attempts made, else the events'
                ready = cursor.ready.get(job_id)
                if ready is None and _int(stamp) is not None:
                    ready = _int(stamp) + (_int(delay) or 0)
                attempts = _int(atm) if _int(atm) is not None else cursor.attempts.get(job_id)
                data = decode_json(data_raw)
                self.ledger.record(
                    self.name,
                    FinishedJob(
                        queue=queue,
                        job_id=job_id,
                        failed=failed,
                        started=None if started is None else started / 1000.0,
                        finished=None if ended is None else ended / 1000.0,
                        data=data,
                        result=None if failed else decode_json(returnvalue),
                        labels=cursor.labels.get(job_id),
                        ready=None if ready is None else ready / 1000.0,
                        name=as_text(name) if name is not None else cursor.names.get(job_id),
                        retries=None if attempts is None else max(0, attempts - 1),
                    ),
                )
                cursor.forget(job_id)
                if job_id.startswith("repeat:") and job_id.count(":") >= 2:  # repeat:<scheduler id>:<due ms>
                    cursor.remember(cursor.last_runs, job_id[len("repeat:") :].rsplit(":", 1)[0], ms)
            if entries:
                cursor.last = _id_parts(entries[-1][0])
            cursor.added = added_now[queue]
            if queue in gaps:
                self.ledger.gap(self.name, queue)

    async def _read_stream(self, client, queue: str, cursor: "_QueueCursor"):
        """The events after the cursor (at most EVENTS_PER_SCRAPE), whether trimming removed
        some the cursor had not reached, and the stream's entries-added to compare next time.

        XINFO STREAM and the first XRANGE run in one MULTI, so ``entries-added`` and
        ``last-generated-id`` describe exactly the entries that XRANGE could see: when every
        entry up to that ID was read, the entries added since the previous snapshot must all
        have been read, or trimming took some first. Redis < 7 has no entries-added: no check."""
        stream = self.key(queue, "events")
        pipe = client.pipeline(transaction=True)
        pipe.xinfo_stream(stream)
        pipe.xrange(stream, min=cursor.next_id(), max="+", count=EVENTS_PER_CALL)
        info, chunk = await pipe.execute(raise_on_error=False)
        if isinstance(chunk, Exception):
            raise chunk
        snapshot = info if not isinstance(info, Exception) else {}
        added, generated = snapshot.get("entries-added"), snapshot.get("last-generated-id")
        upper = as_text(generated) if generated is not None else "+"  # never past the snapshot
        entries = list(chunk)
        while len(chunk) == EVENTS_PER_CALL and len(entries) < EVENTS_PER_SCRAPE:
            ms, seq = _id_parts(chunk[-1][0])
            chunk = await client.xrange(stream, min=f"{ms}-{seq + 1}", max=upper, count=EVENTS_PER_CALL)
            entries.extend(chunk)
        if isinstance(info, Exception) and "no such key" not in str(info).lower():
            raise info
        if added is None or generated is None:
            return entries, False, None  # no stream yet, or Redis < 7: no gap check
        if len(chunk) == EVENTS_PER_CALL:
            return entries, False, None  # the rest is read next scrape; no comparison this time
        # every entry up to the snapshot was read: those added since the last snapshot must all be here
        gap = cursor.added is not None and int(added) - cursor.added > len(entries)
        return entries, gap, int(added)

    # ---- the label follower -------------------------------------------------------------------
    async def start(self) -> None:
        self._follower = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        """Read every queue's events as they come and keep the labels of jobs being added or
        started, while their hash still exists. Runs until close(); a Redis that is down is
        retried every few seconds (quietly: scheduler_up already says so)."""
        client = redis_client(self.config.redis_url, self.timeout + FOLLOW_BLOCK_MS / 1000, self.config.password_file)
        positions: dict[str, str] = {}
        backoff = 0.5
        try:
            while True:
                try:
                    for queue in await self.queues():
                        positions.setdefault(self.key(queue, "events"), f"{int(self.started_at * 1000)}-0")
                    if not positions:
                        await asyncio.sleep(FOLLOW_BLOCK_MS / 1000)
                        continue
                    reply = await client.xread(positions, count=EVENTS_PER_CALL, block=FOLLOW_BLOCK_MS)
                    await self._remember_labels(client, reply or [], positions)
                    backoff = 0.5
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.debug("backend %s: label follower: %s", self.display, describe_error(exc))
                    await asyncio.sleep(backoff)
                    backoff = min(5.0, backoff * 2)
        finally:
            await client.aclose()

    async def _remember_labels(self, client, reply, positions: dict[str, str]) -> None:
        head = f"{self.prefix}:"
        jobs: list[tuple[str, str]] = []
        for stream, entries in reply:
            stream = as_text(stream)
            queue = stream[len(head) : -len(":events")]
            cursor = self._cursor(queue)
            for _entry_id, fields in entries:
                job_id = as_text(fields.get(b"jobId", b""))
                if fields.get(b"event") in LABEL_EVENTS and job_id and job_id not in cursor.labels:
                    jobs.append((queue, job_id))
            if entries:
                positions[stream] = as_text(entries[-1][0])
        if not jobs:
            return
        pipe = client.pipeline(transaction=False)
        for queue, job_id in jobs:
            pipe.hget(self.key(queue, job_id), "data")
        for (queue, job_id), raw in zip(jobs, await pipe.execute()):
            data = decode_json(raw)
            if data is not None and data is not UNDECODABLE:
                labels = job_labels(self.ledger.contract, data)
                self.cursors[queue].remember(self.cursors[queue].labels, job_id, labels)
                self.ledger.declare_sport(labels[0])

    # ---- gauges ---------------------------------------------------------------------------------
    async def read_states(self) -> list[QueueState]:
        client = self.redis
        queues = await self.queues()
        now_ms = int(time.time() * 1000)
        pipe = client.pipeline(transaction=False)
        keys: list[str] = []  # the key each reply is about, to name it when it is of the wrong type
        for q in queues:
            keys += [self.key(q, s) for s in STATE_KEYS]
            pipe.llen(self.key(q, "wait"))
            pipe.llen(self.key(q, "paused"))
            pipe.llen(self.key(q, "active"))
            for suffix in ("prioritized", "delayed", "waiting-children", "completed", "failed"):
                pipe.zcard(self.key(q, suffix))
            pipe.hexists(self.key(q, "meta"), "paused")
            pipe.exists(self.key(q, "meta-paused"))  # Bull v3's flag
            pipe.lindex(self.key(q, "wait"), -1)
            pipe.lindex(self.key(q, "paused"), -1)
            pipe.zrange(self.key(q, "prioritized"), 0, 0)
            pipe.zcount(self.key(q, "delayed"), "-inf", (now_ms - OVERDUE_GRACE_MS) * 4096)
            pipe.lrange(self.key(q, "active"), 0, ACTIVE_CHECKED - 1)
            # the queue exists when any of its keys does (the job id counter outlives every job)
            pipe.exists(*(self.key(q, k) for k in EXISTENCE_KEYS))
            pipe.zrange(self.key(q, "repeat"), 0, MAX_RECURRING - 1, withscores=True)
        replies = await pipe.execute(raise_on_error=False)
        per_queue = len(STATE_KEYS)
        for _key, reply in zip(keys, replies):
            if isinstance(reply, Exception) and not isinstance(reply, ResponseError):
                raise reply  # the connection, not a key: the backend is down
        readable: dict[str, list] = {}
        for i, q in enumerate(queues):
            row = replies[i * per_queue : (i + 1) * per_queue]
            bad = next((j for j, r in enumerate(row) if isinstance(r, Exception)), None)
            if bad is None:
                readable[q] = row
            else:
                self._queue_failed(q, keys[i * per_queue + bad], row[bad])
        queues = tuple(readable)
        rows = [readable[q] for q in queues]
        # second round: the oldest waiting candidates' timestamps, and the active jobs' locks
        pipe = client.pipeline(transaction=False)
        lookups = []
        for q, row in zip(queues, rows):
            candidates = [as_text(x) for x in (row[10], row[11]) if x is not None]
            candidates += [as_text(x) for x in row[12]]
            candidates = [c for c in candidates if not c.startswith("0:")]  # v4 markers are not jobs
            for job_id in candidates:
                pipe.hmget(self.key(q, job_id), "timestamp", "delay")
            active_ids = [as_text(x) for x in row[14]]
            for job_id in active_ids:
                pipe.exists(self.key(q, f"{job_id}:lock"))
                pipe.hget(self.key(q, job_id), "processedOn")
            repeats = [(as_text(m), score) for m, score in row[16] if len(m) <= MAX_RECURRING_NAME]
            self._note_long_names(q, [m for m, _ in row[16] if len(m) > MAX_RECURRING_NAME])
            for sched_id, _ in repeats:
                pipe.hmget(self.key(q, f"repeat:{sched_id}"), "pattern", "every", "tz")
            lookups.append((len(candidates), len(active_ids), repeats))
        second = await pipe.execute(raise_on_error=False) if any(a or b or c for a, b, c in lookups) else []
        second = [None if isinstance(r, ResponseError) else r for r in second]
        workers = await self._workers(queues)
        states, pos = [], 0
        for q, row, (n_candidates, n_active, repeats) in zip(queues, rows, lookups):
            ages = []
            for reply in second[pos : pos + n_candidates]:
                ts, delay = reply if reply is not None else (None, None)
                ready = _int(ts)
                if ready is not None:
                    ages.append(max(0.0, (now_ms - ready - (_int(delay) or 0)) / 1000.0))
            pos += n_candidates
            locks = second[pos : pos + 2 * n_active : 2]
            starts = [_int(x) for x in second[pos + 1 : pos + 2 * n_active : 2]]
            pos += 2 * n_active
            starts = [t for t in starts if t is not None]
            recurring = self._recurring(q, repeats, second[pos : pos + len(repeats)], now_ms)
            pos += len(repeats)
            wait = row[0]
            if row[10] is not None and as_text(row[10]).startswith("0:"):
                wait -= 1  # a BullMQ v4 marker in wait, not a job
            jobs = {
                "waiting": wait,
                "paused": row[1],
                "active": row[2],
                "prioritized": row[3],
                "delayed": row[4],
                "waiting-children": row[5],
                "completed": row[6],
                "failed": row[7],
            }
            states.append(
                QueueState(
                    queue=q,
                    jobs=jobs,
                    oldest_waiting_age=max(ages) if ages else 0.0,
                    workers=workers.get(q) if workers is not None else None,
                    paused=bool(row[8]) or bool(row[9]),
                    overdue=row[13],
                    stalled=sum(1 for held in locks if not held),
                    exists=bool(row[15]),
                    longest_active_age=max(0.0, (now_ms - min(starts)) / 1000.0) if starts else 0.0,
                    recurring=recurring,
                )
            )
        return states

    def _recurring(self, queue: str, repeats, records, now_ms: int) -> list[Recurring]:
        """The queue's job schedulers: due next (the ``repeat`` ZSET's score), last finished (the
        events read by consume), interval (``every``, or two runs of the cron pattern), overdue."""
        cursor = self._cursor(queue)
        out = []
        for (sched_id, score), record in zip(repeats, records):
            pattern, every, tz = (None, None, None) if not isinstance(record, list) else record
            if pattern is None and every is None and ":" in sched_id:
                # a legacy repeatable job (no hash): its key is name:id:endDate:tz:pattern-or-every
                legacy = sched_id.rsplit(":", 1)[1]
                every, pattern = (legacy, None) if legacy.isdigit() else (None, legacy or None)
            interval = None
            if _int(every):
                interval = _int(every) / 1000.0
            elif pattern is not None:
                interval = self._cron_interval(
                    queue, sched_id, as_text(pattern), as_text(tz) if tz else None, score / 1000.0
                )
            next_run = score / 1000.0
            last = cursor.last_runs.get(sched_id)
            out.append(
                Recurring(
                    name=sched_id,
                    next_run=next_run,
                    last_run=None if last is None else last / 1000.0,
                    interval=interval,
                    overdue=now_ms / 1000.0 - next_run > overdue_grace(interval),
                )
            )
        return out

    def _cron_interval(self, queue: str, sched_id: str, pattern: str, tz: str | None, after: float) -> float | None:
        """Seconds between the two runs after ``after`` of a cron pattern (cron-parser's syntax: 5 fields,
        or 6 with seconds first); None, logged once, when it does not parse."""
        key = (queue, sched_id, pattern)
        if key in self._bad_patterns:
            return None
        try:
            return cron_interval(pattern, tz, after)
        except Exception as exc:  # croniter's errors, an unknown time zone, croniter missing
            if len(self._bad_patterns) < 1000:
                self._bad_patterns.add(key)
                log.warning(
                    "backend %s: queue %s: recurring job %s: pattern %r does not parse (%s); overdue after 60 s",
                    self.display,
                    queue,
                    sched_id[:64],
                    pattern[:64],
                    describe_error(exc)[:120],
                )
            return None

    def _note_long_names(self, queue: str, names) -> None:
        if names and queue not in self._long_names and len(self._long_names) < 1000:
            self._long_names.add(queue)
            log.warning(
                "backend %s: queue %s: %d recurring job(s) with an id over %d characters left out",
                self.display,
                queue,
                len(names),
                MAX_RECURRING_NAME,
            )

    async def _workers(self, queues) -> dict[str, int] | None:
        """Connections named as BullMQ workers name them: ``<prefix>:<queue>`` (+ ``:w:<name>``),
        or the Node library's ``<prefix>:<base64(queue)>``; a named worker counts once however
        many connections it opens. None when CLIENT LIST is refused."""
        import base64

        try:
            clients = await self.redis.client_list()
        except Exception:
            return None
        names = [c.get("name", "") for c in clients]
        out = {}
        for q in queues:
            bases = (f"{self.prefix}:{q}", f"{self.prefix}:{base64.b64encode(q.encode()).decode()}")
            named = {n for n in names if any(n.startswith(b + ":w:") for b in bases)}  # one per worker name
            unnamed = sum(1 for n in names if n in bases)  # one per connection, as getWorkersCount()
            out[q] = len(named) + unnamed
        return out

    def _background(self) -> tuple[asyncio.Task | None, ...]:
        return (self._follower, self._discovery)
