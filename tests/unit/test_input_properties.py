"""Property-based tests of the parsers that read outside input and had none (issue 16).

- Job data (scheduler/contract.py): whatever a job's payload is (any bytes, any JSON-like value),
  decode_json, lookup, label_text, job_labels and violations answer a value, never an exception (one
  odd job must not fail the scheduler's scrape), and label values are text.
- The config files (postgres --config.file, --web.config.file, the fleet config): whatever YAML a file
  holds, the loader gives its value or a ConfigError (a one-line error, exit 2), never another exception
  (which would be a traceback at start-up or a failed reload).
"""

from __future__ import annotations

import math
import os
import tempfile

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exporters.core.errors import ConfigError
from exporters.scheduler.contract import (
    UNDECODABLE,
    JobContract,
    decode_json,
    job_labels,
    label_text,
    lookup,
    violations,
)

EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# the keys the loaders and the default job contract look for, so examples reach past the first check
KEYS = st.sampled_from(
    [
        "allowed_targets",
        "args",
        "auth_module",
        "auth_modules",
        "basic_auth_users",
        "burst",
        "cert",
        "cipher_suites",
        "client_allowed_sans",
        "client_auth_type",
        "client_ca",
        "curve_preferences",
        "env",
        "exporter",
        "exporters",
        "headers",
        "host",
        "http_server_config",
        "interval",
        "key",
        "listen",
        "log_format",
        "log_level",
        "name",
        "options",
        "password",
        "password_file",
        "path",
        "port",
        "probe",
        "probe_path",
        "rate_limit",
        "target",
        "tls_server_config",
        "type",
        "user",
        "username",
        "userpass",
        "web_systemd_socket",
        "http2",
        "min_version",
        "max_version",
        "node",
        "postgres",
        "redis",
        "sport",
        "teamCount",
        "constraintViolations",
        "severity",
        "0",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "*",
            "127.0.0.1:0",
            ":9100",
            "/",
            "RequireAndVerifyClientCert",
            "$2b$04$abcdefghijklmnopqrstuu",
            "node",
            "postgres",
            "redis",
            "scheduler",
            "debug",
            "json",
            "TLS13",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(KEYS, st.text(max_size=8)), inner, max_size=5)
    ),
    max_leaves=25,
)
DOCUMENTS = st.one_of(VALUES, st.dictionaries(KEYS, VALUES, max_size=6))


# ---- job data ------------------------------------------------------------------------------------------
PATHS = st.lists(st.one_of(KEYS, st.text(max_size=6), st.integers(0, 3).map(str)), min_size=0, max_size=4)


@EXAMPLES
@given(
    st.one_of(
        VALUES,
        st.binary(max_size=200),
        st.text(max_size=200),
        VALUES.map(lambda v: yaml.safe_dump(v)),
        st.recursive(st.just([]), st.lists, max_leaves=3000).map(lambda v: repr(v).replace(" ", "")),
    )
)
def test_job_payload_decodes_to_a_value(raw):
    decoded = decode_json(raw)
    assert decoded is None or decoded is UNDECODABLE or isinstance(decoded, (dict, list, str, int, float, bool))


@EXAMPLES
@given(
    st.sampled_from(["data", "result"]),
    PATHS,
    st.one_of(VALUES, st.just(UNDECODABLE)),
    st.one_of(VALUES, st.just(UNDECODABLE)),
)
@example("result", ["¹"], None, [[]])  # found by this test: '¹'.isdigit(), but int('¹') raises
def test_lookup_and_labels_never_raise(root, parts, data, result):
    path = ".".join([root, *parts])
    found = lookup(path, data, result)
    text = label_text(found)
    assert isinstance(text, str) and text


@EXAMPLES
@given(
    st.one_of(VALUES, st.just(UNDECODABLE)),
    st.one_of(VALUES, st.just(UNDECODABLE)),
    st.sampled_from(["result.constraintViolations", "data.constraintViolations", "result", "data.0"]),
)
def test_violations_and_job_labels_never_raise(data, result, where):
    contract = JobContract(constraint_violations=where)
    found = violations(contract, data, result)
    assert len(found) <= 1_000_000 and all(isinstance(a, str) and isinstance(b, str) for a, b in found)
    sport, teams = job_labels(contract, data)
    assert isinstance(sport, str) and isinstance(teams, str)


@EXAMPLES
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_number_labels_are_finite_text(value):
    text = label_text(value)
    assert text == "unknown" or not math.isnan(float(text))


# ---- config files ----------------------------------------------------------------------------------------
def _with_file(text: str, load):
    fd, path = tempfile.mkstemp(suffix=".yml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            load(path)
        except ConfigError as exc:
            assert str(exc) and "\n" not in str(exc).strip(), repr(str(exc))
    finally:
        os.unlink(path)


YAML_TEXT = st.one_of(
    DOCUMENTS.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    st.text(alphabet=st.sampled_from(list("ab:- \n\t'\"[]{}!&*#|>%@`,?0")), max_size=80),
)


@EXAMPLES
@given(YAML_TEXT)
def test_postgres_config_file_value_or_config_error(text):
    from exporters.postgres.config import load

    _with_file(text, load)


@EXAMPLES
@given(YAML_TEXT)
def test_web_config_file_value_or_config_error(text):
    from exporters.core.webconfig import load_web_config

    _with_file(text, load_web_config)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAML_TEXT)
def test_fleet_config_file_value_or_config_error(text):
    from exporters.fleet import load

    _with_file(text, lambda path: load(path, environ={}))
