"""Celery queues on a Redis broker, with a Redis result backend: read-only, no ``celery`` import,
and no task events needed (docs/scheduler.md, "Celery").

Keys read (kombu's Redis transport, Celery's Redis result backend):

* ``<queue>`` (LIST of messages; ``<queue>\\x06\\x16<n>`` for priorities 3, 6, 9): tasks waiting;
* ``unacked`` (HASH delivery tag -> [message, exchange, routing key]): tasks a worker has taken
  (prefetched, and running under ``acks_late``) and not acknowledged yet: the ``reserved`` state;
* the result backend publishes each stored state on the channel ``celery-task-meta-<task id>``
  (the key it writes): a follower task subscribed to ``celery-task-meta-*`` sees every SUCCESS,
  FAILURE, REVOKED and RETRY once. Counting from the channel, not from the keys, keeps the work
  per scrape independent of the results kept (``result_expires``), and nothing is ever written.

Run time and wait time are not known without task events (a result holds ``date_done`` only).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque

from ..core.errors import describe_error
from ..core.helpers import as_text
from .backend import QueueState, RedisReader, redis_client
from .contract import UNDECODABLE, FinishedJob

log = logging.getLogger("flextime.scheduler")

PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)  # kombu's default priority_steps beyond 0
CHANNEL_PREFIX = "celery-task-meta-"
READY = {"SUCCESS": False, "FAILURE": True, "REVOKED": True}  # state -> failed
BUFFER_MAX = 200_000  # results waiting for the next scrape; more is a history gap
UNACKED_READ = 10_000  # unacked entries attributed to their queue per scrape (HLEN counts them all)
MAX_MESSAGE = 1 << 20  # bytes of one published result decoded; a bigger one is counted without fields


def call_data(meta: dict):
    """The contract's ``data`` root of a task: kwargs merged over the first positional argument when
    that is a dict (result_extended stores both); None when the result does not have them."""
    args, kwargs = meta.get("args"), meta.get("kwargs")
    if args is None and kwargs is None:
        return None
    out: dict = {}
    if isinstance(args, list) and args and isinstance(args[0], dict):
        out.update(args[0])
    if isinstance(kwargs, dict):
        out.update(kwargs)
    return out


class CeleryReader(RedisReader):
    """Reads Celery queues: LLEN, HLEN, HVALS (bounded), PSUBSCRIBE; never a write."""

    kind = "celery"

    def __init__(self, config, ledger, timeout: float = 5.0, started_at: float | None = None) -> None:
        super().__init__(config, ledger, timeout, started_at)
        self._results: deque = deque()
        self._lost = 0  # results dropped (buffer full) or subscriptions lost since the last scrape
        self._follower: asyncio.Task | None = None
        self._subscribed = asyncio.Event()

    # ---- finished tasks: the result backend's channel ---------------------------------------
    async def start(self) -> None:
        self._follower = asyncio.get_running_loop().create_task(self._follow())
        try:  # count from the start: wait (briefly) for the subscription
            await asyncio.wait_for(self._subscribed.wait(), self.timeout)
        except asyncio.TimeoutError:
            pass

    async def _follow(self) -> None:
        """Subscribed to every result the backend stores; each message is buffered once. A lost
        subscription is a gap (results published meanwhile are not counted)."""
        backoff, first = 0.5, True
        while True:
            client = redis_client(
                self.config.result_backend or self.config.redis_url, self.timeout, self.config.password_file
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                if not first:
                    self._lost += 1
                first = False
                self._subscribed.set()
                backoff = 0.5
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "pmessage":
                        continue
                    if len(self._results) >= BUFFER_MAX:
                        self._lost += 1
                        continue
                    self._results.append(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("backend %s: result follower: %s", self.display, describe_error(exc))
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            finally:
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except Exception:
                    pass

    async def consume(self) -> None:
        """Hand the results buffered since the last scrape to the ledger (no await: all or nothing)."""
        configured = set(self.config.queues)
        for q in self.config.queues:
            self.ledger.declare_queue(self.name, q)
        batch, self._results = self._results, deque()
        lost, self._lost = self._lost, 0
        for raw in batch:
            self._record(raw, configured)
        if lost:
            for q in self.config.queues:
                self.ledger.gap(self.name, q)

    def _record(self, raw, configured: set[str]) -> None:
        meta = None
        if isinstance(raw, (bytes, bytearray)) and len(raw) <= MAX_MESSAGE:
            try:
                meta = json.loads(raw)
            except (ValueError, RecursionError, UnicodeDecodeError):
                meta = None
        if not isinstance(meta, dict):
            return  # not a JSON result (another serializer): nothing to count by
        state = meta.get("status")
        queue = meta.get("queue")
        # a queue label only for the configured queues: result_extended stores the routing key
        queue = (
            queue
            if isinstance(queue, str) and queue in configured
            else (self.config.queues[0] if len(self.config.queues) == 1 and queue is None else "unknown")
        )
        if state == "RETRY":
            self.ledger.retried[(self.name, queue)] = self.ledger.retried.get((self.name, queue), 0) + 1
            return
        if state not in READY:
            return
        failed = READY[state]
        name = meta.get("name") if isinstance(meta.get("name"), str) else None
        self.ledger.record(
            self.name,
            FinishedJob(
                queue=queue,
                job_id=as_text(meta.get("task_id", "")),
                failed=failed,
                data=call_data(meta),
                result=None if failed else meta.get("result", UNDECODABLE),
                name=name,
            ),
        )
        self.ledger.count_task(self.name, queue, name, state)

    # ---- gauges -------------------------------------------------------------------------------
    async def read_states(self) -> list[QueueState]:
        client = self.redis
        queues = list(self.config.queues)
        pipe = client.pipeline(transaction=False)
        for q in queues:
            pipe.llen(q)
            for step in PRIORITY_STEPS:
                pipe.llen(f"{q}{PRIORITY_SEP}{step}")
        pipe.hlen("unacked")
        replies = await pipe.execute()
        unacked_total = int(replies[-1])
        reserved: dict[str, int] = {}
        if unacked_total:
            values = []
            async for _, value in client.hscan_iter("unacked", count=1000):
                values.append(value)
                if len(values) >= UNACKED_READ:
                    break
            for value in values:
                try:
                    routing_key = json.loads(value)[2]
                except (ValueError, IndexError, TypeError, KeyError):
                    continue
                if isinstance(routing_key, str):
                    reserved[routing_key] = reserved.get(routing_key, 0) + 1
        per = 1 + len(PRIORITY_STEPS)
        out = []
        for i, q in enumerate(queues):
            waiting = sum(int(n) for n in replies[i * per : (i + 1) * per])
            out.append(QueueState(q, jobs={"waiting": waiting, "reserved": reserved.get(q, 0)}))
        return out

    def _background(self) -> tuple[asyncio.Task | None, ...]:
        return (self._follower,)
