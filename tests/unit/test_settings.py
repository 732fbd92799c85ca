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


def _prepared(name: str, args: list[str]):
    """``name``'s flags parsed and the exporter prepared (validated and built) as it starts, with the
    parsed settings' contents before and after."""
    spec = load_spec(name)
    settings = parse_settings(spec, [*args, "--web.listen-address", "127.0.0.1:0"], {})
    before = dict(vars(settings))
    prepared = prepare(spec, settings)
    assert vars(settings) == before  # nothing written into the parsed settings
    return settings, prepared


def test_settings_refuse_to_be_written_and_replace_makes_a_copy():
    settings = parse_settings(load_spec("node"), [], {})
    with pytest.raises(AttributeError, match="not written to once parsed"):
        settings.path_procfs = "/elsewhere"
    with pytest.raises(AttributeError):
        del settings.path_procfs
    moved = settings.replace(path_procfs="/elsewhere")
    assert (moved.path_procfs, settings.path_procfs) == ("/elsewhere", "/proc")


def test_node_has_no_options_and_writes_nothing():
    settings, prepared = _prepared("node", [])
    assert prepared.settings.get("options") is None  # node's validate only checks
    assert all(t.collectors for t in prepared.pool.configured)


def test_postgres_options_hold_what_validate_read(tmp_path):
    config = tmp_path / "pg.yml"
    config.write_text("probe:\n  allowed_targets: ['db*.example:5432']\n")
    settings, prepared = _prepared(
        "postgres",
        [
            "--dsn=postgresql://mon@127.0.0.1:1/app",
            f"--config.file={config}",
            "--constantLabels=team=db,env=prod",
            "--metric-prefix=pgx",
            "--auto-discover-databases",
            "--exclude-databases=scratch",
            "--disable-default-metrics",
            "--disable-settings-metrics",
        ],
    )
    options = prepared.settings.options
    assert options.constant_labels == (("team", "db"), ("env", "prod"))
    assert options.metric_prefix == "pgx"
    assert options.config.allowed_targets == ("db*.example:5432",) and options.config_loaded_at > 0
    assert options.fanout.enabled and options.fanout.exclude == {"scratch"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.metric_prefix = "pg"
    # the whole-exporter flags switch collectors off as --no-collector.NAME would
    assert "settings" not in prepared.app.enabled and "stat_activity" not in prepared.app.enabled
    assert "stat_user_tables" in prepared.app.enabled
    (target,) = prepared.pool.configured
    session = target.hooks
    assert (session.metric_prefix, session.constant_labels) == ("pgx", options.constant_labels)
    assert session.fanout() is session.fanout()  # the session's own fan-out, made once
    assert session.fanout().config is options.fanout


def test_redis_options_and_the_password_file_read_again_when_it_changes(tmp_path):
    import json
    import os

    from exporters.redis.address import parse_address

    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"redis://10.0.0.9:6379": "old"}))
    script = tmp_path / "count.lua"
    script.write_text("return {'a', '1'}")
    settings, prepared = _prepared(
        "redis",
        [
            "--redis.addr=redis://127.0.0.1:1",
            f"--redis.password-file={passwords}",
            "--scrape.allowed-targets=10.0.0.*",
            f"--script={script}",
        ],
    )
    options = prepared.settings.options
    assert dict(options.scripts) == {str(script): b"return {'a', '1'}"}
    assert options.allowlist.allows("10.0.0.9", 6379) and not options.allowlist.allows("10.0.1.9", 6379)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.allowlist = None
    with pytest.raises(TypeError):
        options.scripts["other.lua"] = b""
    assert vars(prepared.settings).keys() - vars(settings).keys() == {"options"}
    held = dict(vars(prepared.settings))
    probe = parse_address("redis://10.0.0.9:6379")
    assert options.passwords.current(probe).password == "old"
    passwords.write_text(json.dumps({"redis://10.0.0.9:6379": "rotated!"}))
    os.utime(passwords, ns=(1, 1))  # a different mtime whatever the clock's resolution
    assert options.passwords.current(probe).password == "rotated!"  # no restart needed
    assert vars(prepared.settings) == held  # the rotation lives in the options' PasswordSource
