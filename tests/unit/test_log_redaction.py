"""The log formatters mask passwords in whatever reaches them, tracebacks included."""

from __future__ import annotations

import json
import logging

from exporters.core.logging import JsonFormatter, LineFormatter


def _record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("exporters.targets", logging.ERROR, __file__, 1, message, (), exc_info)


def test_a_traceback_that_quotes_a_dsn_shows_no_password():
    try:
        {}["host=db port=5432 user=exporter password=hunter2 dbname=app"]
    except KeyError as exc:
        error = exc
    for formatter in (LineFormatter(), JsonFormatter()):
        text = formatter.format(_record("probe failed for postgresql://exporter:hunter2@db:5432/app", error))
        assert "hunter2" not in text
        assert "password=***" in text and "postgresql://exporter:***@db:5432/app" in text
    json.loads(JsonFormatter().format(_record("x", error)))  # still one JSON object


def test_text_without_secrets_is_unchanged():
    text = LineFormatter().format(_record("probe target postgresql://exporter@db:5432/app added"))
    assert text.endswith("probe target postgresql://exporter@db:5432/app added")
