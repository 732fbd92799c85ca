"""Settings are not written to once parsed: an exporter's validate() returns its options (typed,
frozen), which reach its session as settings.options, and the parsed flags stay as given."""

from __future__ import annotations

import dataclasses

import pytest

from exporters.catalogue import load_spec
from exporters.core.runtime import parse_settings, prepare


def test_scheduler_options_come_from_validate_and_the_flags_stay_as_given():
    spec = load_spec("scheduler")
    settings = parse_settings(
        spec,
        [
            "--rq.queue",
            "jobs",
            "--redis.addr",
            "redis://127.0.0.1:1/0",
            "--redis.password",
            "s3cret",
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        {},
    )
    before = dict(vars(settings))
    prepared = prepare(spec, settings)
    assert vars(settings) == before  # nothing written into the parsed settings
    options = prepared.settings.options
    assert [b.redis_url for b in options.config.backends] == ["redis://:s3cret@127.0.0.1:1/0"]
    assert options.connection_timeout == 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.connection_timeout = 1.0
    assert prepared.app.enabled == ["rq"]  # applicable() read the options: only the backend configured runs
