"""The webhook: AdmissionReview v1 in, AdmissionReview out, over TLS.

A broken injector must not block pod creation: whatever arrives (not JSON, no request, an
object that is not a pod, a body over the size limit) gets HTTP 200 with ``allowed: true`` and no
patch, and the problem is logged as an error. Nothing of the body is ever logged but the pod's
namespace/name and the review's uid: a pod spec may carry secrets in plain env values."""

from __future__ import annotations

import base64
import json
import logging
import os

from ..core.errors import ConfigError
from ..core.helpers import file_signature, files_complete
from .patch import DEFAULT_IMAGE, Malformed, build_patch, pod_name, show

log = logging.getLogger("exporters.inject")

MAX_BODY = 4 << 20  # the API server sends at most 3 MiB; anything larger is not a review
API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")


def _answer(api_version: str, uid: str, patch: list | None = None, warnings: list | None = None) -> dict:
    response: dict = {"uid": uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode()
    if warnings:
        response["warnings"] = list(warnings)
    return {"apiVersion": api_version, "kind": "AdmissionReview", "response": response}


def review(body: bytes | None, image: str = DEFAULT_IMAGE) -> dict:
    """The AdmissionReview that answers ``body`` (None: the body was over :data:`MAX_BODY`).
    Never raises: every failure is logged and answered 'allowed', without a patch."""
    api_version, uid = API_VERSIONS[0], ""
    try:
        if body is None:
            log.error("admission review body over %d bytes, not read; allowing without a sidecar", MAX_BODY)
            return _answer(api_version, uid)
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            log.error(
                "admission review is not JSON (%s at byte %s); allowing without a sidecar",
                type(exc).__name__,
                getattr(exc, "pos", "?"),
            )
            return _answer(api_version, uid)
        if not isinstance(doc, dict):
            log.error("admission review is a JSON %s, not an object; allowing without a sidecar", type(doc).__name__)
            return _answer(api_version, uid)
        if doc.get("apiVersion") in API_VERSIONS:
            api_version = doc["apiVersion"]
        request = doc.get("request")
        if not isinstance(request, dict):
            log.error("admission review has no request; allowing without a sidecar")
            return _answer(api_version, uid)
        if not isinstance(request.get("uid"), str) or not request["uid"]:
            log.error("admission review has no uid; allowing without a sidecar")
            return _answer(api_version, uid)
        uid = request["uid"]  # echoed as it came; logged as `ref` (a UUID from the API server, else shown safely)
        ref = show(uid, 64)[1:-1]
        kind = request.get("kind")
        if isinstance(kind, dict) and kind.get("kind") not in (None, "Pod"):
            log.warning(
                "review %s is for a %s, not a Pod (check the webhook's rules); allowing", ref, show(kind.get("kind"))
            )
            return _answer(api_version, uid)
        if request.get("operation") not in (None, "CREATE"):
            log.debug("review %s: operation %s, only CREATE adds a sidecar", ref, show(request.get("operation")))
            return _answer(api_version, uid)
        if "object" not in request or request["object"] is None:
            log.error("review %s has no object; allowing without a sidecar", ref)
            return _answer(api_version, uid)
        pod = request["object"]
        where = pod_name(pod)
        if where == "?" and isinstance(request.get("namespace"), str):
            where = show(f"{request['namespace']}/{request.get('name') or '?'}", 120)[1:-1]
        try:
            result = build_patch(pod, image)
        except Malformed as exc:
            log.error("review %s: %s; allowing without a sidecar", ref, exc)
            return _answer(api_version, uid)
        for warning in result.warnings:
            log.warning("pod %s (review %s): %s", where, ref, warning)
        if result.patch:
            log.info("pod %s (review %s): %s", where, ref, result.outcome)
        else:
            log.debug("pod %s (review %s): %s, no patch", where, ref, result.outcome)
        return _answer(api_version, uid, result.patch, result.warnings)
    except Exception as exc:  # noqa: BLE001  a bug here must still let the pod through
        # the class and where, not the message: it could quote a value of the pod
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        at = f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}" if tb else "?"
        log.error(
            "review %s: internal error %s at %s; allowing without a sidecar", show(uid, 64), type(exc).__name__, at
        )
        return _answer(api_version, uid)


async def _read_body(request, limit: int = MAX_BODY) -> bytes | None:
    """The request body, or None past ``limit`` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


class TLSFiles:
    """The server's certificate and key, loaded again on the next handshake after either file
    changes (cert-manager rotates them in place); a broken new pair keeps the previous one."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        from ..core.webconfig import _tls_context

        self._load = lambda: _tls_context({"cert_file": cert_file, "key_file": key_file}, os.getcwd())[0]
        self.files = (cert_file, key_file)
        try:
            self.context = self._load()  # a bad file: ConfigError naming it, at start-up
        except ConfigError as exc:
            raise ConfigError(
                str(exc)
                .replace("tls_server_config: ", "")
                .replace("cert_file", "--tls.cert-file")
                .replace("key_file", "--tls.key-file")
            ) from None
        self.effective = self.context
        self.signature = self._signature()
        self.context.sni_callback = self._on_handshake

    def _signature(self) -> tuple:
        return tuple(file_signature(path) for path in self.files)

    def _on_handshake(self, ssl_object, server_name, listening_context) -> None:
        signature = self._signature()
        if signature != self.signature and files_complete(signature):
            self.signature = signature
            try:
                self.effective = self._load()
            except ConfigError as exc:
                log.error("keeping the previous TLS certificate: %s", exc)
            else:
                log.info("TLS certificate files changed: loaded them again")
        if self.effective is not listening_context:
            ssl_object.context = self.effective


def build_app(image: str):
    from aiohttp import web

    async def mutate(request):
        body = await _read_body(request)
        return web.json_response(review(body, image))

    async def ok(request):
        return web.Response(text="OK\n")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/mutate", mutate)
    app.router.add_get("/live", ok)
    app.router.add_get("/ready", ok)
    return app


def check_kubernetes_package(image: str) -> None:
    """Build one container now, so a missing ``kubernetes`` package stops start-up, not a review."""
    from .patch import build_container

    try:
        build_container("redis", {}, image)
    except ImportError as exc:
        raise ConfigError(
            f"the kubernetes package is needed by inject ({exc.name} is missing): "
            "pip install 'flextime-exporters[inject]'"
        ) from None


async def serve(addresses, tls: TLSFiles, image: str) -> None:
    from ..core.runtime import listen, make_runner, wait_for_signal

    runner = make_runner(build_app(image))
    await runner.setup()
    try:
        await listen(runner, addresses, tls.context, f"POST /mutate, image {image}")
        await wait_for_signal()
    finally:
        await runner.cleanup()
