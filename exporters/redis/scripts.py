"""Lua scripts that return metrics (--script, redis_exporter 1.69's redis_script_values and
redis_script_result).

redis_exporter runs each script with EVAL: a script that writes, writes, and one that fails
reports the whole target down. Here each script runs with EVAL_RO (Redis 7+, Valkey), so the
server itself refuses any write command in it; Redis before 7 has no EVAL_RO, and the scripts are
not sent to it at all. A script that writes, does not compile or returns something else than
key/value pairs gives ``redis_script_result 0`` and the collector's success 0, logged once;
``redis_up`` and the other collectors are not affected. Files are read once at start-up.
"""

from __future__ import annotations

from pathlib import Path

from ..core.collector import Flag, PartialFailure
from ..core.errors import ConfigError
from ..core.metrics import gauge
from .keys import go_float
from .registry import RedisCollector, redis_collectors, text

SCRIPT_VALUES = gauge("redis_script_values", "Values returned by the collect script", "key", "filename")
SCRIPT_RESULT = gauge("redis_script_result", "Result of the collect script evaluation", "filename")
OK, FAILED, EMPTY = 1, 0, 2  # redis_script_result, as redis_exporter: 2 when the script returned nothing


def script_paths(value) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return value
    return tuple(p.strip() for p in str(value or "").split(",") if p.strip())


FLAGS = (
    Flag(
        "--script",
        "script",
        "Comma separated list of paths of Lua scripts run read-only (EVAL_RO, Redis 7+ and Valkey) every scrape; "
        "each returns a flat list of key, value pairs (redis_script_values).",
        default="",
        type=script_paths,
        metavar="FILE,...",
        aliases=("-script",),
    ),
)


def load_scripts(paths: tuple[str, ...]) -> dict[str, bytes]:
    """The scripts' texts by path; a file that cannot be read stops start-up (ConfigError)."""
    out = {}
    for path in paths:
        try:
            out[path] = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"--script {path}: {exc.strerror or exc}") from None
    return out


def script_values(reply) -> dict[str, float]:
    """redis_exporter's reading of a script's reply: key, value pairs of strings, each value a number
    as Go parses it. Raises ValueError naming what is wrong."""
    if not isinstance(reply, list):
        raise ValueError(f"the script returned a {type(reply).__name__}, not a list of key, value pairs")
    if len(reply) % 2:
        raise ValueError("the script returned an odd number of items, not key, value pairs")
    out = {}
    for key, raw in zip(reply[::2], reply[1::2]):
        if not (isinstance(key, bytes) and isinstance(raw, bytes)):  # as redigo's StringMap: strings only
            raise ValueError(f"item {text(key)!r} is not a pair of strings (a number must be returned as a string)")
        number = go_float(text(raw))
        if number is None:
            raise ValueError(f"the value of {text(key)!r} is not a number")
        out[text(key)] = number
    return out


@redis_collectors.register
class ScriptsCollector(RedisCollector):
    name = "scripts"
    description = "--script: Lua scripts run read-only with EVAL_RO (Redis 7+, Valkey); nothing without the flag."
    metrics = (SCRIPT_VALUES, SCRIPT_RESULT)
    flags = FLAGS

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.scripts = settings.options.scripts  # read by validate() at start-up

    async def collect(self):
        if not self.scripts:
            return []
        self.session.reply("info")  # raises when the target is down
        version = self.session.version
        if version and version < (7,):
            raise RuntimeError(
                f"Redis {'.'.join(map(str, version))} has no EVAL_RO: --script needs Redis 7+ or Valkey "
                "(scripts are only run read-only)"
            )
        names = list(self.scripts)
        replies = await self.session.execute(*(("EVAL_RO", self.scripts[n], 0) for n in names))
        values, result = SCRIPT_VALUES.family(), SCRIPT_RESULT.family()
        problems = []
        for name, reply in zip(names, replies):
            try:
                if isinstance(reply, Exception):
                    raise ValueError(str(reply))
                got = script_values(reply)
            except ValueError as exc:
                problems.append(f"--script {name}: {exc}")
                result.add((name,), FAILED)
                continue
            for key, number in got.items():
                values.add((key, name), number)
            result.add((name,), OK if got else EMPTY)
        out = [f for f in (values, result) if f.samples]
        if problems:
            raise PartialFailure("; ".join(problems), out)
        return out
