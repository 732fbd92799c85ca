"""The pure part of the injector: a pod (a dict, as in an AdmissionReview) in, the JSONPatch
(RFC 6902) operations that add the exporter sidecar and the warnings for the user out.

The annotations a pod author sets (all under ``exporters.flextime.io/``, documented in
docs/inject.md):

=============================  ===========================================================
``inject``                     ``postgres`` or ``redis``: which exporter to add
``postgres-dsn-secret``        Secret whose key (``postgres-dsn-secret-key``, default
                               ``dsn``) holds the DSN -> ``DATA_SOURCE_NAME``
``postgres-credentials-secret`` otherwise: a Secret with ``username`` and ``password``
                               (kubernetes.io/basic-auth) -> ``DATA_SOURCE_USER`` /
                               ``DATA_SOURCE_PASS``, with ``DATA_SOURCE_URI`` =
                               ``localhost:<postgres-port>/<postgres-database>``
``postgres-port``              default 5432
``postgres-database``          default ``postgres``
``redis-port``                 default 6379 (``--redis.addr=redis://localhost:<port>``)
``redis-password-secret``      Secret whose key (``redis-password-secret-key``, default
                               ``password``) holds the password -> ``REDIS_PASSWORD``
``redis-user``                 ACL user name (not a secret) -> ``REDIS_USER``
=============================  ===========================================================

Secrets are only ever referenced (``valueFrom.secretKeyRef``): the injector never sees a value.
A bad annotation value gives no patch and a warning, never a rejected pod.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

PREFIX = "exporters.flextime.io/"
INJECT = PREFIX + "inject"
DEFAULT_IMAGE = "ghcr.io/flextime/flextime-exporters:0.1.0"
OPT_OUT = ("", "false", "none", "off")  # an explicit "no", without a warning

# the sidecar's fixed parts
RUN_AS_USER = 65534  # nobody: every file the image needs is world-readable
REQUESTS = {"cpu": "20m", "memory": "64Mi"}
LIMITS = {"memory": "192Mi"}
SCRAPE_ANNOTATIONS = ("prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path", "prometheus.io/scheme")

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


class Malformed(ValueError):
    """The review's object is not a pod we can read (logged as an error, answered 'allowed')."""


class AnnotationError(ValueError):
    """A bad annotation value: no sidecar, the message goes back as a warning."""


@dataclass(frozen=True)
class Exporter:
    name: str  # the subcommand
    port: int  # its default port, which the sidecar listens on
    port_name_fallback: str


EXPORTERS = {
    "postgres": Exporter("postgres", 9187, "pg-metrics"),
    "redis": Exporter("redis", 9121, "redis-metrics"),
}


@dataclass
class Result:
    patch: list[dict] = field(default_factory=list)  # [] when the pod is left alone
    warnings: list[str] = field(default_factory=list)  # AdmissionResponse.warnings
    outcome: str = "skipped"  # a short word for the log line


def show(value: object, limit: int = 40) -> str:
    """A user-supplied value as it may appear in a warning or log line: printable ASCII, cut short."""
    text = _PRINTABLE.sub("?", str(value))
    return repr(text if len(text) <= limit else text[:limit] + "...")


def pointer(*parts: str) -> str:
    """A JSON Pointer (RFC 6901): '~' -> '~0' and '/' -> '~1' in each part."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


# ---- annotations --------------------------------------------------------------------------------
def _bad(key: str, value: str, what: str) -> AnnotationError:
    """A warning of at most 120 characters (the API server may cut longer ones)."""
    return AnnotationError(f"{PREFIX}{key}={show(value, 20)}: {what}; no sidecar added"[:120])


def _get(ann: dict, key: str) -> str | None:
    value = ann.get(PREFIX + key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AnnotationError(f"{PREFIX}{key} must be a string")
    return value.strip()


def _port(ann: dict, key: str, default: int) -> int:
    value = _get(ann, key)
    if value is None or value == "":
        return default
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise _bad(key, value, "not a port (1-65535)")
    return int(value)


def _secret(ann: dict, key: str) -> str | None:
    value = _get(ann, key)
    if not value:
        return None
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise _bad(key, value, "not a Secret name")
    return value


def _secret_key(ann: dict, key: str, default: str) -> str:
    value = _get(ann, key) or default
    if len(value) > 253 or not _SECRET_KEY.match(value):
        raise _bad(key, value, "not a Secret key")
    return value


# ---- the container ------------------------------------------------------------------------------
def _models():
    from kubernetes import client  # ~17 MiB: only the inject command pays for it

    return client


def _from_secret(k8s, env_name: str, secret: str, key: str):
    return k8s.V1EnvVar(
        name=env_name, value_from=k8s.V1EnvVarSource(secret_key_ref=k8s.V1SecretKeySelector(name=secret, key=key))
    )


def _postgres_env(k8s, ann: dict, warnings: list[str]) -> list:
    dsn_secret = _secret(ann, "postgres-dsn-secret")
    dsn_key = _secret_key(ann, "postgres-dsn-secret-key", "dsn")
    credentials = _secret(ann, "postgres-credentials-secret")
    port = _port(ann, "postgres-port", 5432)
    database = _get(ann, "postgres-database") or "postgres"
    if len(database) > 63:
        raise _bad("postgres-database", database, "longer than 63 bytes")
    if dsn_secret:
        ignored = [k for k in ("postgres-credentials-secret", "postgres-port", "postgres-database") if _get(ann, k)]
        if ignored:
            warnings.append(f"{PREFIX}postgres-dsn-secret is set: {', '.join(ignored)} ignored")
        return [_from_secret(k8s, "DATA_SOURCE_NAME", dsn_secret, dsn_key)]
    env = [k8s.V1EnvVar(name="DATA_SOURCE_URI", value=f"localhost:{port}/{quote(database, safe='')}")]
    if credentials:
        env += [
            _from_secret(k8s, "DATA_SOURCE_USER", credentials, "username"),
            _from_secret(k8s, "DATA_SOURCE_PASS", credentials, "password"),
        ]
    else:
        warnings.append(
            "no postgres-dsn-secret or postgres-credentials-secret annotation: the exporter connects without a password"
        )
    return env


def _redis_env(k8s, ann: dict) -> tuple[list, int]:
    port = _port(ann, "redis-port", 6379)
    env = []
    secret = _secret(ann, "redis-password-secret")
    key = _secret_key(ann, "redis-password-secret-key", "password")
    if secret:
        env.append(_from_secret(k8s, "REDIS_PASSWORD", secret, key))
    user = _get(ann, "redis-user")
    if user:
        if len(user) > 256 or _PRINTABLE.search(user) or " " in user:
            raise _bad("redis-user", user, "not a user name")
        env.append(k8s.V1EnvVar(name="REDIS_USER", value=user))
    return env, port


def container_name(exporter: str) -> str:
    return f"flextime-exporter-{exporter}"


def build_container(
    exporter: str,
    annotations: dict,
    image: str = DEFAULT_IMAGE,
    *,
    port_name: str = "metrics",
    warnings: list[str] | None = None,
) -> dict:
    """The sidecar for ``exporter`` as the API's JSON (camelCase, no nulls).
    Raises :class:`AnnotationError` for a bad annotation value."""
    k8s = _models()
    spec = EXPORTERS[exporter]
    warnings = [] if warnings is None else warnings
    args = [spec.name, f"--web.listen-address=:{spec.port}"]
    if exporter == "postgres":
        env = _postgres_env(k8s, annotations, warnings)
    else:
        env, redis_port = _redis_env(k8s, annotations)
        args.insert(1, f"--redis.addr=redis://localhost:{redis_port}")

    def probe(path: str, period: int):
        return k8s.V1Probe(
            http_get=k8s.V1HTTPGetAction(path=path, port=spec.port, scheme="HTTP"),
            period_seconds=period,
            timeout_seconds=3,
            failure_threshold=3,
        )

    container = k8s.V1Container(
        name=container_name(exporter),
        image=image,
        image_pull_policy="IfNotPresent",
        args=args,
        env=env or None,
        ports=[k8s.V1ContainerPort(name=port_name, container_port=spec.port, protocol="TCP")],
        liveness_probe=probe("/live", 20),
        readiness_probe=probe("/ready", 10),
        resources=k8s.V1ResourceRequirements(requests=dict(REQUESTS), limits=dict(LIMITS)),
        security_context=k8s.V1SecurityContext(
            run_as_non_root=True,
            run_as_user=RUN_AS_USER,
            run_as_group=RUN_AS_USER,
            read_only_root_filesystem=True,
            allow_privilege_escalation=False,
            privileged=False,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
        termination_message_policy="FallbackToLogsOnError",
    )
    return k8s.ApiClient().sanitize_for_serialization(container)


# ---- the patch ----------------------------------------------------------------------------------
def pod_name(pod: object) -> str:
    meta = pod.get("metadata") if isinstance(pod, dict) else None
    if not isinstance(meta, dict):
        return "?"
    name = meta.get("name") or (f"{meta.get('generateName')}*" if meta.get("generateName") else "?")
    ns = meta.get("namespace")
    return show(f"{ns}/{name}" if ns else name, 120)[1:-1]


def build_patch(pod: object, image: str = DEFAULT_IMAGE) -> Result:
    """The JSONPatch that adds the sidecar ``pod`` asks for, or none (with the reason).

    Raises :class:`Malformed` for an object that is not a readable pod."""
    if not isinstance(pod, dict):
        raise Malformed(f"the object is a {type(pod).__name__}, not a pod")
    meta = pod.get("metadata") or {}
    if not isinstance(meta, dict):
        raise Malformed("metadata is not an object")
    ann = meta.get("annotations") or {}
    if not isinstance(ann, dict):
        raise Malformed("metadata.annotations is not an object")
    wanted = ann.get(INJECT)
    if wanted is None:
        return Result(outcome="not annotated")
    if not isinstance(wanted, str) or wanted.strip().lower() not in EXPORTERS:
        if isinstance(wanted, str) and wanted.strip().lower() in OPT_OUT:
            return Result(outcome="opted out")
        return Result(
            warnings=[f"{INJECT}: unknown value {show(wanted, 20)} (postgres or redis); no sidecar added"],
            outcome="unknown value",
        )
    exporter = EXPORTERS[wanted.strip().lower()]
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        raise Malformed("the pod has no spec")
    containers = spec.get("containers")
    if containers is not None and not isinstance(containers, list):
        raise Malformed("spec.containers is not a list")
    containers = [c for c in containers or () if isinstance(c, dict)]
    init = (
        [c for c in spec.get("initContainers") or () if isinstance(c, dict)]
        if isinstance(spec.get("initContainers"), list)
        else []
    )
    everyone = containers + init
    name = container_name(exporter.name)
    if any(c.get("name") == name for c in everyone):
        return Result(outcome="already injected")
    ports = [p for c in containers for p in c.get("ports") or () if isinstance(p, dict)]
    if any(p.get("containerPort") == exporter.port for p in ports):
        return Result(
            warnings=[
                f"port {exporter.port} is already used by a container of this pod; no {exporter.name} exporter added"
            ],
            outcome="port taken",
        )
    port_name = exporter.port_name_fallback if any(p.get("name") == "metrics" for p in ports) else "metrics"

    warnings: list[str] = []
    try:
        container = build_container(exporter.name, ann, image, port_name=port_name, warnings=warnings)
    except AnnotationError as exc:
        return Result(warnings=[str(exc)], outcome="bad annotation")

    if isinstance(spec.get("containers"), list):
        patch = [{"op": "add", "path": "/spec/containers/-", "value": container}]
    else:
        patch = [{"op": "add", "path": "/spec/containers", "value": [container]}]
    if any(k in ann for k in SCRAPE_ANNOTATIONS):
        warnings.append(
            f"the pod already has prometheus.io/ annotations; they are kept, so port "
            f"{exporter.port} is not announced (use a PodMonitor)"
        )
    else:
        # the inject annotation is there, so metadata.annotations exists: add its keys one by one
        patch += [
            {"op": "add", "path": pointer("metadata", "annotations", k), "value": v}
            for k, v in (("prometheus.io/scrape", "true"), ("prometheus.io/port", str(exporter.port)))
        ]
    return Result(patch=patch, warnings=warnings, outcome=f"injected {exporter.name}")
