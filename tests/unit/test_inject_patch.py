"""The injector's pure parts: the JSONPatch a pod gets (exporters.inject.patch.build_patch) and
the AdmissionReview answer to a body (exporters.inject.server.review), without a server."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import subprocess
import sys

import pytest

from conftest import IN_CI, ROOT

from exporters.inject.patch import DEFAULT_IMAGE, INJECT, Malformed, build_container, build_patch, pointer, show

P = "exporters.flextime.io/"


@pytest.fixture(autouse=True)
def _kubernetes():
    try:
        importlib.import_module("kubernetes")
    except ImportError:
        message = "kubernetes is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def pod(annotations=None, containers=None, **spec) -> dict:
    meta = {"name": "p", "namespace": "ns"}
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "app", "image": "app:1"}] if containers is None else containers, **spec},
    }


def apply(doc: dict, ops: list) -> dict:
    """RFC 6902 'add' as the API server applies it (only what the injector emits)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        assert op["op"] == "add"
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        target = doc
        for p in parts[:-1]:
            target = target[p]
        if isinstance(target, list):
            assert parts[-1] == "-"
            target.append(op["value"])
        else:
            assert parts[-1] not in target, f"add would replace {op['path']}"
            target[parts[-1]] = op["value"]
    return doc


def test_json_pointer_escaping():
    assert pointer("metadata", "annotations", "prometheus.io/scrape") == "/metadata/annotations/prometheus.io~1scrape"
    assert pointer("a~b/c") == "/a~0b~1c"  # '~' first, so '/' -> '~1' is not escaped again


def test_postgres_patch_with_dsn_secret():
    r = build_patch(pod({INJECT: "postgres", P + "postgres-dsn-secret": "pg"}), "img:1")
    assert r.outcome == "injected postgres" and r.warnings == []
    assert [op["path"] for op in r.patch] == [
        "/spec/containers/-",
        "/metadata/annotations/prometheus.io~1scrape",
        "/metadata/annotations/prometheus.io~1port",
    ]
    c = r.patch[0]["value"]
    assert c["name"] == "flextime-exporter-postgres" and c["image"] == "img:1"
    assert c["args"] == ["postgres", "--web.listen-address=:9187"]
    assert c["env"] == [{"name": "DATA_SOURCE_NAME", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "dsn"}}}]
    assert r.patch[2]["value"] == "9187"


def test_postgres_dsn_secret_key_and_ignored_annotations_warn():
    r = build_patch(
        pod(
            {
                INJECT: "Postgres",
                P + "postgres-dsn-secret": "pg",
                P + "postgres-dsn-secret-key": "uri",
                P + "postgres-port": "5433",
            }
        )
    )
    assert r.patch[0]["value"]["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "uri"}
    assert r.warnings == [f"{P}postgres-dsn-secret is set: postgres-port ignored"]


def test_postgres_without_credentials_warns_but_injects():
    r = build_patch(pod({INJECT: "postgres", P + "postgres-database": "my db"}))
    env = r.patch[0]["value"]["env"]
    assert env == [{"name": "DATA_SOURCE_URI", "value": "localhost:5432/my%20db"}]
    assert len(r.warnings) == 1 and "without a password" in r.warnings[0]


def test_redis_patch_defaults_and_user():
    r = build_patch(pod({INJECT: "redis", P + "redis-user": "exporter", P + "redis-password-secret": "r"}))
    c = r.patch[0]["value"]
    assert c["args"] == ["redis", "--redis.addr=redis://localhost:6379", "--web.listen-address=:9121"]
    assert c["env"] == [
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "r", "key": "password"}}},
        {"name": "REDIS_USER", "value": "exporter"},
    ]
    assert c["ports"][0]["containerPort"] == 9121


def test_container_is_secure_and_probed():
    c = build_container("redis", {}, DEFAULT_IMAGE)
    sc = c["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsGroup": 65534,
        "runAsNonRoot": True,
        "runAsUser": 65534,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert c["livenessProbe"]["httpGet"]["path"] == "/live" and c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert "env" not in c  # nothing to set: no null or empty list in the patch


def test_no_annotation_opt_out_unknown_value():
    assert build_patch(pod()).patch == [] and build_patch(pod()).warnings == []
    assert build_patch(pod({"other": "x"})).outcome == "not annotated"
    assert build_patch(pod({INJECT: "false"})).warnings == []
    r = build_patch(pod({INJECT: "mysql"}))
    assert r.patch == [] and r.outcome == "unknown value" and "'mysql'" in r.warnings[0]
    r = build_patch(pod({INJECT: "x\x00\n" * 50}))  # control characters never reach a warning or log line
    assert r.patch == [] and all(0x20 <= ord(ch) < 0x7F for ch in r.warnings[0]) and len(r.warnings[0]) <= 120


def test_idempotent():
    p = pod({INJECT: "redis"})
    once = apply(p, build_patch(p).patch)
    assert [c["name"] for c in once["spec"]["containers"]] == ["app", "flextime-exporter-redis"]
    again = build_patch(once)
    assert again.patch == [] and again.outcome == "already injected"
    # also when a chart put the sidecar in by hand as a native sidecar (an init container)
    native = pod({INJECT: "redis"}, initContainers=[{"name": "flextime-exporter-redis", "image": "x"}])
    assert build_patch(native).patch == []


def test_port_clash_and_port_name_clash():
    taken = pod(
        {INJECT: "postgres"}, containers=[{"name": "old-exporter", "image": "pe", "ports": [{"containerPort": 9187}]}]
    )
    r = build_patch(taken)
    assert r.patch == [] and "9187" in r.warnings[0]
    named = pod(
        {INJECT: "postgres", P + "postgres-dsn-secret": "s"},
        containers=[{"name": "app", "image": "a", "ports": [{"containerPort": 8080, "name": "metrics"}]}],
    )
    assert build_patch(named).patch[0]["value"]["ports"][0]["name"] == "pg-metrics"


@pytest.mark.parametrize(
    "key, value",
    [
        ("postgres-port", "0"),
        ("postgres-port", "-1"),
        ("postgres-port", "5432 "),
        ("postgres-dsn-secret", "UPPER"),
        ("postgres-dsn-secret", "a" * 254),
        ("postgres-dsn-secret-key", "no/slash"),
        ("postgres-credentials-secret", "under_score"),
        ("postgres-database", "d" * 64),
    ],
)
def test_bad_postgres_annotations(key, value):
    r = build_patch(pod({INJECT: "postgres", P + key: value}))
    if value == "5432 ":  # surrounding blanks are forgiven
        assert r.patch
        return
    assert r.patch == [] and r.outcome == "bad annotation" and key in r.warnings[0]
    assert all(len(w) <= 120 for w in r.warnings)


@pytest.mark.parametrize(
    "key, value",
    [
        ("redis-port", "65536"),
        ("redis-password-secret", "-bad"),
        ("redis-user", "two words"),
        ("redis-password-secret-key", "k:ey"),
    ],
)
def test_bad_redis_annotations(key, value):
    r = build_patch(pod({INJECT: "redis", P + key: value}))
    assert r.patch == [] and key in r.warnings[0]


def test_existing_prometheus_annotations_are_kept():
    r = build_patch(pod({INJECT: "redis", "prometheus.io/path": "/app-metrics"}))
    assert [op["path"] for op in r.patch] == ["/spec/containers/-"]
    assert "prometheus.io/" in r.warnings[0] and len(r.warnings[0]) <= 120


def test_missing_containers_list_is_created():
    p = pod({INJECT: "redis"})
    del p["spec"]["containers"]
    r = build_patch(p)
    assert r.patch[0]["path"] == "/spec/containers" and len(r.patch[0]["value"]) == 1
    p["spec"]["containers"] = None  # null: 'add' replaces it with the list
    assert build_patch(p).patch[0]["path"] == "/spec/containers"
    p["metadata"] = None
    assert build_patch(p).outcome == "not annotated"


@pytest.mark.parametrize(
    "obj",
    [
        "pod",
        [],
        3,
        {"metadata": "x"},
        {"metadata": {"annotations": "x"}},
        {"metadata": {"annotations": {INJECT: "redis"}}},
        {"metadata": {"annotations": {INJECT: "redis"}}, "spec": {"containers": {}}},
    ],
)
def test_malformed_objects(obj):
    with pytest.raises(Malformed):
        build_patch(obj)


def test_show_is_safe():
    assert show("a\nb") == "'a?b'" and show("x" * 100).endswith("...'") and len(show("x" * 100)) < 50


# ---- the review answer (no server) ------------------------------------------------------------
def review(body):
    from exporters.inject.server import review as answer

    return answer(body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode(), "img:2")


def test_review_answer_shape():
    doc = review(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {"uid": "u1", "operation": "CREATE", "object": pod({INJECT: "redis"})},
        }
    )
    resp = doc["response"]
    assert doc["apiVersion"] == "admission.k8s.io/v1" and doc["kind"] == "AdmissionReview"
    assert resp["uid"] == "u1" and resp["allowed"] is True and resp["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(resp["patch"]))
    assert ops[0]["value"]["image"] == "img:2"


def test_review_v1beta1_is_answered_in_kind():
    doc = review({"apiVersion": "admission.k8s.io/v1beta1", "request": {"uid": "u2", "object": pod()}})
    assert doc["apiVersion"] == "admission.k8s.io/v1beta1" and doc["response"] == {"uid": "u2", "allowed": True}


@pytest.mark.parametrize(
    "body",
    [
        None,
        b"",
        b"\xff\xfe",
        b"null",
        b'"x"',
        {"request": None},
        {"request": []},
        {"request": {"uid": 5, "object": {}}},
        {"request": {"uid": "u"}},
        {"request": {"uid": "u", "object": None}},
    ],
)
def test_review_never_raises(body, caplog):
    doc = review(body)
    assert doc["response"]["allowed"] is True and "patch" not in doc["response"]
    assert any(r.levelname == "ERROR" for r in caplog.records)


def test_inject_modules_do_not_load_kubernetes_until_used():
    """Memory: the exporters never load kubernetes (17 MiB); even the inject command's modules
    import it only when the first container is built."""
    code = (
        "import sys, exporters.cli as c; c.cli.get_command(None, 'node'); c.cli.get_command(None, 'inject');"
        "import exporters.inject.server, exporters.inject.patch;"
        "assert 'kubernetes' not in sys.modules, 'kubernetes imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
