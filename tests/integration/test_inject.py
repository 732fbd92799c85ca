"""``flextime-exporter inject`` as the API server meets it: the real webhook process over TLS
(a throwaway CA and server certificate made in-process), real AdmissionReview requests, the
returned JSONPatch applied with ``jsonpatch`` and the resulting pod validated against the
Kubernetes schema with ``kubernetes-validate``. A malformed review gets 200, allowed, no patch
and an error in the log: a broken injector must never block pod creation."""

from __future__ import annotations

import base64
import copy
import datetime
import http.client
import importlib
import ipaddress
import json
import os
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT, exporter_cmd, free_port, stop_process, wait_http

K8S_VERSION = "1.30"
SECRET_VALUE = "s3cr3t-never-in-the-pod"  # what a Secret would hold; must appear nowhere


def need(module: str):
    """The module, or skip (laptop) / fail (CI=true) naming the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


# ---- a throwaway PKI --------------------------------------------------------------------------
def make_pki(directory: Path, cn: str = "flextime-inject.test") -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, key, issuer, issuer_key, ca: bool, sans=()):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        b = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer is not None else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            b = b.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return b.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("flextime inject test CA", ca_key, None, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    server = build(
        cn, key, ca, ca_key, ca=False, sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName(cn)]
    )
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.crt").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


class Webhook:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path, ctx: ssl.SSLContext) -> None:
        self.proc, self.port, self.log_path, self.ctx = proc, port, log_path, ctx

    def log(self) -> str:
        return self.log_path.read_text()

    def post(self, body: bytes, path: str = "/mutate", headers: dict | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, (json.loads(data) if resp.status == 200 else {"raw": data})
        finally:
            conn.close()

    def review(self, pod, uid: str | None = None, **request) -> tuple[str, dict]:
        uid = uid or str(uuid.uuid4())
        req = {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "namespace": "data",
            "object": pod,
            **request,
        }
        status, doc = self.post(
            json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}).encode()
        )
        assert status == 200
        assert doc["apiVersion"] == "admission.k8s.io/v1" and doc["kind"] == "AdmissionReview"
        assert doc["response"]["uid"] == uid and doc["response"]["allowed"] is True
        return uid, doc["response"]

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture(scope="module")
def webhook(tmp_path_factory):
    need("kubernetes")
    d = tmp_path_factory.mktemp("inject")
    make_pki(d)
    port = free_port()
    log_path = d / "inject.log"
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(
            exporter_cmd(
                "inject",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--tls.cert-file={d / 'tls.crt'}",
                f"--tls.key-file={d / 'tls.key'}",
                "--image=registry.test/flextime-exporters:9.9.9",
                "--log.level=debug",
            ),
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
    ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
    hook = Webhook(proc, port, log_path, ctx)
    try:
        wait_http(f"https://127.0.0.1:{port}/live", proc, context=ctx)
    except Exception:
        hook.stop()
        raise RuntimeError(f"webhook did not start: {log_path.read_text()}") from None
    hook.dir = d
    yield hook
    hook.stop()


# ---- pods --------------------------------------------------------------------------------------
def pod(annotations: dict | None = None, containers: list | None = None, **meta) -> dict:
    metadata = {"name": "db-0", "namespace": "data", "labels": {"app": "db"}, **meta}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": containers
            if containers is not None
            else [
                {
                    "name": "postgres",
                    "image": "postgres:16",
                    "env": [{"name": "POSTGRES_PASSWORD", "value": SECRET_VALUE}],  # a careless app: still not logged
                    "ports": [{"containerPort": 5432, "name": "postgres"}],
                }
            ]
        },
    }


def apply(original: dict, response: dict) -> dict:
    jsonpatch = need("jsonpatch")
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    return jsonpatch.apply_patch(copy.deepcopy(original), ops)


def validate(obj: dict) -> None:
    kv = need("kubernetes_validate")
    kv.validate(obj, K8S_VERSION, strict=True)  # raises ValidationError with the path of the fault


def sidecar(patched: dict, name: str) -> dict:
    found = [c for c in patched["spec"]["containers"] if c["name"] == name]
    assert len(found) == 1, [c["name"] for c in patched["spec"]["containers"]]
    return found[0]


def assert_secure(c: dict) -> None:
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]


# ---- the tests ---------------------------------------------------------------------------------
def test_postgres_sidecar_from_a_dsn_secret(webhook):
    original = pod(
        {"exporters.flextime.io/inject": "postgres", "exporters.flextime.io/postgres-dsn-secret": "db-0-monitoring"}
    )
    uid, resp = webhook.review(original)
    patched = apply(original, resp)
    validate(patched)
    assert [c["name"] for c in patched["spec"]["containers"]] == ["postgres", "flextime-exporter-postgres"]
    c = sidecar(patched, "flextime-exporter-postgres")
    assert c["image"] == "registry.test/flextime-exporters:9.9.9"
    assert c["args"] == ["postgres", "--web.listen-address=:9187"]
    assert c["env"] == [
        {"name": "DATA_SOURCE_NAME", "valueFrom": {"secretKeyRef": {"name": "db-0-monitoring", "key": "dsn"}}}
    ]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9187, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": 9187, "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 9187, "scheme": "HTTP"}
    assert_secure(c)
    # the annotation keys hold '/': escaped as ~1 in the patch, plain keys in the result
    ops = json.loads(base64.b64decode(resp["patch"]))
    assert {o["path"] for o in ops} == {
        "/spec/containers/-",
        "/metadata/annotations/prometheus.io~1scrape",
        "/metadata/annotations/prometheus.io~1port",
    }
    ann = patched["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "9187"
    assert ann["exporters.flextime.io/inject"] == "postgres"  # the pod's own annotations are untouched
    assert "warnings" not in resp
    log = webhook.log()
    assert "data/db-0" in log and uid in log and "injected postgres" in log


def test_postgres_sidecar_from_credentials(webhook):
    original = pod(
        {
            "exporters.flextime.io/inject": "postgres",
            "exporters.flextime.io/postgres-credentials-secret": "db-0-basic-auth",
            "exporters.flextime.io/postgres-port": "6432",
            "exporters.flextime.io/postgres-database": "flextime",
        }
    )
    _, resp = webhook.review(original)
    patched = apply(original, resp)
    validate(patched)
    env = {e["name"]: e for e in sidecar(patched, "flextime-exporter-postgres")["env"]}
    assert env["DATA_SOURCE_URI"] == {"name": "DATA_SOURCE_URI", "value": "localhost:6432/flextime"}
    assert env["DATA_SOURCE_USER"]["valueFrom"]["secretKeyRef"] == {"name": "db-0-basic-auth", "key": "username"}
    assert env["DATA_SOURCE_PASS"]["valueFrom"]["secretKeyRef"] == {"name": "db-0-basic-auth", "key": "password"}
    assert "DATA_SOURCE_NAME" not in env


def test_redis_sidecar(webhook):
    original = pod(
        {
            "exporters.flextime.io/inject": "redis",
            "exporters.flextime.io/redis-port": "6380",
            "exporters.flextime.io/redis-password-secret": "cache-auth",
            "exporters.flextime.io/redis-password-secret-key": "redis-password",
        },
        containers=[{"name": "redis", "image": "redis:7", "ports": [{"containerPort": 6380}]}],
        name=None,
        generateName="cache-",
    )
    del original["metadata"]["name"]
    uid, resp = webhook.review(original)
    patched = apply(original, resp)
    validate(patched)
    c = sidecar(patched, "flextime-exporter-redis")
    assert c["args"] == ["redis", "--redis.addr=redis://localhost:6380", "--web.listen-address=:9121"]
    assert c["env"] == [
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "cache-auth", "key": "redis-password"}}}
    ]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9121, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"]["path"] == "/live" and c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert_secure(c)
    assert patched["metadata"]["annotations"]["prometheus.io/port"] == "9121"
    assert "data/cache-*" in webhook.log()


def test_pod_without_the_annotation_is_left_alone(webhook):
    for original in (pod(), pod({"team": "scheduling"}), pod({"exporters.flextime.io/inject": "false"})):
        _, resp = webhook.review(original)
        assert "patch" not in resp and "patchType" not in resp and "warnings" not in resp


def test_already_injected_pod_gets_no_patch(webhook):
    original = pod(
        {"exporters.flextime.io/inject": "postgres", "exporters.flextime.io/postgres-dsn-secret": "db-0-monitoring"}
    )
    _, first = webhook.review(original)
    once = apply(original, first)
    _, second = webhook.review(once)
    assert "patch" not in second and "warnings" not in second
    assert [c["name"] for c in once["spec"]["containers"]].count("flextime-exporter-postgres") == 1


def test_unknown_value_is_allowed_with_a_warning(webhook):
    uid, resp = webhook.review(pod({"exporters.flextime.io/inject": "mysql"}))
    assert "patch" not in resp
    assert len(resp["warnings"]) == 1 and "'mysql'" in resp["warnings"][0]
    assert all(len(w) <= 120 for w in resp["warnings"])
    assert any("WARNING" in line and uid in line and "'mysql'" in line for line in webhook.log().splitlines())


@pytest.mark.parametrize(
    "annotation, value",
    [
        ("postgres-port", "54x2"),
        ("postgres-port", "70000"),
        ("postgres-dsn-secret", "Not_A_Secret"),
    ],
)
def test_bad_annotation_value_is_allowed_with_a_warning(webhook, annotation, value):
    _, resp = webhook.review(
        pod({"exporters.flextime.io/inject": "postgres", f"exporters.flextime.io/{annotation}": value})
    )
    assert "patch" not in resp
    assert len(resp["warnings"]) == 1 and annotation in resp["warnings"][0] and repr(value) in resp["warnings"][0]


def test_existing_scrape_annotations_are_kept(webhook):
    original = pod(
        {
            "exporters.flextime.io/inject": "postgres",
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "8080",
            "exporters.flextime.io/postgres-dsn-secret": "x",
        }
    )
    _, resp = webhook.review(original)
    patched = apply(original, resp)
    validate(patched)
    assert patched["metadata"]["annotations"]["prometheus.io/port"] == "8080"
    assert any("prometheus.io/" in w for w in resp["warnings"])


def test_pod_without_containers_gets_the_list_created(webhook):
    original = pod({"exporters.flextime.io/inject": "redis"})
    del original["spec"]["containers"]
    _, resp = webhook.review(original)
    ops = json.loads(base64.b64decode(resp["patch"]))
    assert ops[0]["path"] == "/spec/containers" and isinstance(ops[0]["value"], list)
    patched = apply(original, resp)
    validate(patched)
    assert [c["name"] for c in patched["spec"]["containers"]] == ["flextime-exporter-redis"]


def test_update_and_other_kinds_are_not_patched(webhook):
    original = pod({"exporters.flextime.io/inject": "redis"})
    _, resp = webhook.review(original, operation="UPDATE")
    assert "patch" not in resp
    _, resp = webhook.review(original, kind={"group": "apps", "version": "v1", "kind": "Deployment"})
    assert "patch" not in resp


@pytest.mark.parametrize(
    "name, body, has_uid",
    [
        ("not JSON", b"{this is not json", False),
        ("empty body", b"", False),
        ("a JSON list", b"[1, 2, 3]", False),
        ("no request", json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(), False),
        (
            "request without uid",
            json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {"object": {"metadata": {}}},
                }
            ).encode(),
            False,
        ),
        (
            "no object",
            json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {"uid": "u-no-object", "operation": "CREATE"},
                }
            ).encode(),
            True,
        ),
        (
            "object is a string",
            json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {"uid": "u-string", "object": "garbage"},
                }
            ).encode(),
            True,
        ),
        (
            "garbage spec",
            json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {
                        "uid": "u-spec",
                        "object": {
                            "metadata": {"annotations": {"exporters.flextime.io/inject": "redis"}},
                            "spec": {"containers": "nope"},
                        },
                    },
                }
            ).encode(),
            True,
        ),
        (
            "garbage annotations",
            json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {"uid": "u-ann", "object": {"metadata": {"annotations": [1]}}},
                }
            ).encode(),
            True,
        ),
    ],
)
def test_malformed_review_is_allowed_without_patch_and_logged(webhook, name, body, has_uid):
    before = len(webhook.log())
    status, doc = webhook.post(body)
    assert status == 200, doc
    resp = doc["response"]
    assert resp["allowed"] is True and "patch" not in resp
    if has_uid:
        assert resp["uid"] == json.loads(body)["request"]["uid"]
    else:
        assert resp["uid"] == ""
    for _ in range(50):  # the log line is written before the answer; give the file a moment
        new = webhook.log()[before:]
        if " ERROR " in new:
            break
        time.sleep(0.02)
    assert " ERROR [inject] " in new, new
    assert webhook.proc.poll() is None  # still serving


def test_oversized_body_is_bounded(webhook):
    status, doc = webhook.post(b"{" + b" " * (5 << 20) + b"}")
    assert status == 200 and doc["response"] == {"uid": "", "allowed": True}
    assert "body over" in webhook.log()


def test_health_routes_and_no_plain_http(webhook):
    for path in ("/live", "/ready"):
        conn = http.client.HTTPSConnection("127.0.0.1", webhook.port, context=webhook.ctx, timeout=5)
        conn.request("GET", path)
        assert conn.getresponse().status == 200
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", webhook.port, timeout=5)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        conn.request("GET", "/live")
        resp = conn.getresponse()
        if resp.status:  # a TLS server answers plain HTTP with an alert or a closed connection, never 200
            raise ConnectionError(f"plain http answered {resp.status}")
    conn.close()


def test_no_secret_value_in_logs(webhook):
    # run last in the module: every review above went through the same process and log
    webhook.review(
        pod(
            {"exporters.flextime.io/inject": "postgres", "exporters.flextime.io/postgres-dsn-secret": "db-0-monitoring"}
        )
    )
    assert SECRET_VALUE not in webhook.log()
    assert "Traceback" not in webhook.log()


def test_certificate_rotation_without_restart(webhook, tmp_path):
    """cert-manager rewrites the files in place: new handshakes get the new certificate."""
    make_pki(tmp_path, cn="rotated.flextime-inject.test")
    for name in ("tls.key", "tls.crt"):
        tmp = webhook.dir / f".{name}.tmp"
        tmp.write_bytes((tmp_path / name).read_bytes())
        os.replace(tmp, webhook.dir / name)
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    conn = http.client.HTTPSConnection("127.0.0.1", webhook.port, context=ctx, timeout=5)
    conn.request("GET", "/live")
    assert conn.getresponse().status == 200
    assert ctx.check_hostname  # verified against the new CA: the old certificate would fail here
    conn.close()


def test_bad_start_up_input_is_one_line_exit_2(tmp_path):
    need("kubernetes")
    (tmp_path / "empty.crt").write_text("not a certificate\n")
    cases = [
        (["--tls.key-file=x"], "Missing option '--tls.cert-file'"),
        ([f"--tls.cert-file={tmp_path / 'empty.crt'}", f"--tls.key-file={tmp_path / 'empty.crt'}"], "--tls.cert-file"),
        (["--web.listen-address=nope", "--tls.cert-file=a", "--tls.key-file=b"], "--web.listen-address"),
    ]
    for args, needle in cases:
        proc = subprocess.run(exporter_cmd("inject", *args), capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert proc.returncode == 2, proc.stderr
        assert needle in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
