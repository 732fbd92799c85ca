"""Log output in the line format the platform's Logstash pipeline parses
(``<ISO8601 timestamp> <LEVEL> [<component>] <message>``), or one JSON object a line."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("text", "json", "logfmt", "txt")  # txt: redis_exporter's name of the line format


def log_on_change(
    logger: logging.Logger, previous: str, error: str, failed: str, recovered: str, *args, level: int = logging.ERROR
) -> str:
    """Log a failure when it starts or changes (``failed % (*args, error)``) and the recovery once
    (``recovered % args``): a failure that repeats scrape after scrape does not flood the log.
    ``previous`` is the error last seen ("" for none); returns ``error``, the caller's next ``previous``."""
    if error and error != previous:
        logger.log(level, failed, *args, error)
    elif not error and previous:
        logger.info(recovered, *args)
    return error


def _component(record: logging.LogRecord) -> str:
    name = record.name
    return name[len("exporters.") :] if name.startswith("exporters.") else name


def _timestamp(record: logging.LogRecord) -> str:
    return (
        datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


# The last line of defence for secrets: whatever a message or traceback carries (a library's error
# that quotes a connection string, an exception whose text is a DSN), the password part of a URI
# and of a key=value DSN is masked before the line is written. Code must still never log secrets.
_SECRET_PATTERNS = (
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]*:)[^\s@'\"]*@", re.I), r"\1***@"),
    (re.compile(r"(\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.I), r"\1***"),
)


def redact_secrets(text: str) -> str:
    """``text`` with the passwords of URIs (``scheme://user:pw@``) and DSNs (``password=pw``) masked."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} [{_component(record)}] {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact_secrets(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "component": _component(record),
            "message": redact_secrets(record.getMessage()),
        }
        if record.exc_info:
            doc["exception"] = redact_secrets(self.formatException(record.exc_info))
        return json.dumps(doc)


def setup_logging(level: str, fmt: str) -> None:
    """``logfmt`` (node_exporter's default name) and ``txt`` (redis_exporter's) are the default line format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    # aiohttp's access log is one line per scrape; keep it for debugging only
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


def access_logger_class():
    """aiohttp's access logger, minus the query string: a probe's ``target`` may be a DSN with a
    password in it, and logs must never hold one. Only the parameter names are kept."""
    from aiohttp.abc import AbstractAccessLogger

    class AccessLogger(AbstractAccessLogger):
        def log(self, request, response, time: float) -> None:
            keys = ",".join(sorted(set(request.query.keys())))
            path = request.path + (f"?[{keys}]" if keys else "")
            self.logger.debug(
                '%s "%s %s" %s %s %.3fs',
                request.remote,
                request.method,
                path,
                response.status,
                response.body_length,
                time,
            )

    return AccessLogger
