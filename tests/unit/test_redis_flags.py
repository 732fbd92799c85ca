"""Go's flag spellings (redis_exporter uses Go's flag package) parsed by the same click command as
``flextime-exporter redis``, without starting it; and the sentinel and CONFIG parsers on their own."""

from __future__ import annotations

import click
import pytest

from exporters.core.runtime import parse_settings
from exporters.redis import SPEC
from exporters.redis.commands import buffer_limit_families, redacted
from exporters.redis.info import info_families, parse_info


def settings(*args: str):
    return parse_settings(SPEC, list(args), env={})


def test_single_and_double_dash_alike():
    for spelling in (
        ["-redis.addr", "redis://a:1"],
        ["-redis.addr=redis://a:1"],
        ["--redis.addr", "redis://a:1"],
        ["--redis.addr=redis://a:1"],
    ):
        assert settings(*spelling).redis_addr == "redis://a:1", spelling


@pytest.mark.parametrize(
    "word,expected",
    [
        ("-set-client-name=false", False),
        ("-set-client-name=0", False),
        ("--set-client-name=FALSE", False),
        ("-set-client-name=f", False),
        ("-set-client-name=true", True),
        ("-set-client-name=T", True),
        ("-set-client-name", True),
        ("--no-set-client-name", False),
    ],
)
def test_go_booleans(word, expected):
    assert settings(word).set_client_name is expected


def test_a_value_that_looks_like_a_flag_stays_a_value():
    s = settings("-redis.password", "-namespace", "-namespace", "cache")
    assert (s.redis_password, s.namespace) == ("-namespace", "cache")


def test_defaults_and_go_names():
    s = settings()
    assert (s.namespace, s.redact_config_metrics, s.include_config_metrics, s.tls_server_min_version) == (
        "redis",
        True,
        False,
        "TLS1.2",
    )
    assert settings("-log-format=json").log_format == "json"
    assert settings("-log-format", "txt").log_format == "txt"


def test_go_environment_names():
    env = {
        "REDIS_EXPORTER_INCL_CONFIG_METRICS": "true",
        "REDIS_EXPORTER_INCL_SYSTEM_METRICS": "1",
        "REDIS_EXPORTER_NAMESPACE": "cache",
        "REDIS_EXPORTER_DEBUG": "true",
        "REDIS_EXPORTER_LOG_FORMAT": "txt",
    }
    s = parse_settings(SPEC, [], env=env)
    assert (s.include_config_metrics, s.include_system_metrics, s.namespace, s.debug, s.log_format) == (
        True,
        True,
        "cache",
        True,
        "txt",
    )


def test_a_bad_boolean_is_a_usage_error():
    with pytest.raises(click.UsageError):
        settings("-debug=maybe")


def test_sentinel_info_section():
    text = (
        "# Sentinel\r\nsentinel_masters:2\r\nsentinel_tilt:0\r\nsentinel_running_scripts:x\r\n"
        "master0:name=a,status=ok,address=10.0.0.1:6379,slaves=2,sentinels=3\r\n"
        "master1:name=b,status=odown,address=10.0.0.2:6379,slaves=0,sentinels=1,junk\r\n"
        "master2:name=c,status=ok,address=10.0.0.3:6379,slaves=x,sentinels=1\r\n"
    )
    fams = {f.name: f for f in info_families(parse_info(text), databases=0)}
    assert fams["redis_sentinel_masters"].samples == [("redis_sentinel_masters", "", 2)]
    assert fams["redis_sentinel_running_scripts"].samples[0][2] == 0  # not a number: 0, as Go's Atoi
    status = {b: v for _, b, v in fams["redis_sentinel_master_status"].samples}
    assert status == {
        '{master_address="10.0.0.1:6379",master_name="a",master_status="ok"}': 1,
        '{master_address="10.0.0.2:6379",master_name="b",master_status="odown"}': 0,
    }
    assert [v for _, _, v in fams["redis_sentinel_master_slaves"].samples] == [2, 0]


def test_client_output_buffer_limit():
    fams = {
        f.name: f
        for f in buffer_limit_families("normal 0 0 0 replica 268435456 67108864 60 pubsub 33554432 8388608 60 broken")
    }
    limits = {b: v for _, b, v in fams["redis_config_client_output_buffer_limit_bytes"].samples}
    assert limits['{class="replica",limit="hard"}'] == 268435456
    assert limits['{class="pubsub",limit="soft"}'] == 8388608
    assert len(limits) == 6
    overcome = {b: v for _, b, v in fams["redis_config_client_output_buffer_limit_overcome_seconds"].samples}
    assert overcome == {
        '{class="normal",limit="soft"}': 0,
        '{class="replica",limit="soft"}': 60,
        '{class="pubsub",limit="soft"}': 60,
    }


def test_password_settings_are_redacted():
    for key in ("requirepass", "masterauth", "primaryauth", "tls-key-file-pass", "tls-client-key-file-pass"):
        assert redacted(key)
    for key in ("maxmemory", "save", "dir", "appendonly"):
        assert not redacted(key)
