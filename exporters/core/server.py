"""The HTTP side every exporter shares: /metrics, health routes, the landing page,
content negotiation, gzip, and the web-config protections (TLS, basic auth,
security headers, rate limit). It knows nothing about hosts or databases."""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import html
import logging
import time
from datetime import datetime, timezone
from typing import Awaitable, Callable

from aiohttp import HttpVersion11, web

from .. import __version__
from .collector import Settings
from .errors import ConfigError
from .metrics import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    MetricFamily,
    counter,
    gauge,
    merge,
    render_openmetrics,
    render_text,
)
from .scrape import ScrapeResult
from .selfmetrics import build_info_family, go_build_info_family, process_families
from .spec import ExporterSpec, HealthCheck
from .targets import ProbeRefused, TargetPool
from .webconfig import WebConfigWatcher

log = logging.getLogger("exporters.web")

HANDLER_REQUESTS = counter(
    "promhttp_metric_handler_requests_total", "Total number of scrapes by HTTP status code.", "code"
)
HANDLER_IN_FLIGHT = gauge("promhttp_metric_handler_requests_in_flight", "Current number of scrapes being served.")
SERIES_DROPPED = counter(
    "flextime_exporter_series_dropped_total",
    "Samples dropped because they duplicated a series or conflicted with a family's type.",
)

GZIP_LEVEL = 1  # ~6x smaller than plain text for exposition; level 9 costs 30x the CPU for 30% less


# the shortest deadline a request's X-Prometheus-Scrape-Timeout-Seconds can ask for (seconds)
MIN_SCRAPE_DEADLINE = 0.5

RENDER_IN_THREAD_SAMPLES = 20_000  # ~20 ms of rendering: above it, off the event loop


def _encode(families: list[MetricFamily], openmetrics: bool, compress: bool) -> bytes:
    data = (render_openmetrics if openmetrics else render_text)(families).encode()
    return gzip.compress(data, compresslevel=GZIP_LEVEL) if compress else data


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_listen_address(text: str) -> tuple[str | None, int]:
    """``[host]:port`` as the Go exporters take it; an empty host means every interface."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--web.listen-address {text!r}: expected [host]:port with a port from 0 to 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host or "[" in host or "]" in host:
        raise ConfigError(f"--web.listen-address {text!r}: write IPv6 addresses in brackets, e.g. [::1]:{port}")
    return (host or None), int(port)


def _refuse_http09(request: web.Request) -> web.StreamResponse:
    """HTTP 400 to an HTTP/0.9 request, answered in HTTP/1.1 (as Go's net/http does), never the metrics."""
    from .httpserver import plain_error

    cache = getattr(request, "_cache", None)  # aiohttp writes the status line in the request's version
    if isinstance(cache, dict):
        cache["version"] = HttpVersion11
    return plain_error(400)


class ExporterApp:
    """The aiohttp application of one running exporter."""

    def __init__(
        self, spec: ExporterSpec, settings: Settings, pool: TargetPool, enabled: list[str], web_config: WebConfigWatcher
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.pool = pool
        self.enabled = enabled
        self.web_config = web_config
        self.telemetry_path = settings.web_telemetry_path
        self.max_requests = settings.web_max_requests
        self.in_flight = 0
        self.requests_by_code: dict[int, int] = {}
        self.probes_refused = 0
        self.health_checks = spec.health_checks(settings) if spec.health_checks else self._target_checks()
        self.started_at = time.time()

    def _target_checks(self) -> dict[str, HealthCheck]:
        """Without its own checks, an exporter with targets is healthy when each configured target
        answers its session's health() ("postgres", or "postgres <target>" with several)."""
        hooks = [t.hooks for t in self.pool.configured if hasattr(t.hooks, "health")]
        if len(hooks) == 1:
            return {self.spec.name: hooks[0].health}
        return {f"{self.spec.name} {h.display}": h.health for h in hooks}

    # ---- application -------------------------------------------------------------------------
    def build(self) -> web.Application:
        app = web.Application(middlewares=[self.protect])
        app.router.add_get(self.telemetry_path, self.metrics)
        app.router.add_get("/health", self.health)
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/live", self.live)
        if self.spec.resolve_probe is not None:
            app.router.add_get(self.spec.probe_path, self.probe)
        for method, path, factory in self.spec.routes:
            app.router.add_route(method, path, factory(self))
        if self.telemetry_path != "/":
            app.router.add_get("/", self.landing)
        return app

    @web.middleware
    async def protect(self, request: web.Request, handler):
        """TLS client SAN check, rate limit and basic auth from the web config; security headers on every answer."""
        cfg = self.web_config.current()
        if request.version < (1, 0):  # "GET /metrics" with no version: HTTP/0.9, which has no status or headers
            return self._with_headers(_refuse_http09(request), cfg)
        if cfg.allowed_sans:
            cert = request.transport.get_extra_info("peercert") if request.transport else None
            sans = {v for _, v in (cert or {}).get("subjectAltName", ())}
            if not sans & set(cfg.allowed_sans):
                return self._with_headers(web.Response(status=403, text="client certificate not allowed\n"), cfg)
        if not self.web_config.take_token():
            return self._with_headers(web.Response(status=429, text="Too Many Requests\n"), cfg)
        if cfg.users:
            if not await self._authorised(request):
                resp = web.Response(
                    status=401, text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="flextime-exporter"'}
                )
                return self._with_headers(resp, cfg)
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            resp = exc
        return self._with_headers(resp, cfg)

    @staticmethod
    def _with_headers(resp, cfg):
        for name, value in cfg.headers.items():
            resp.headers[name] = value
        return resp

    async def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token:
            return False
        try:
            user, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return bool(sep) and await self.web_config.check_password(user, password)

    # ---- /metrics ----------------------------------------------------------------------------
    def scrape_timeout(self, request: web.Request) -> float:
        """Prometheus says how long it waits; answer a margin before that. Any client can send the
        header, so the deadline has a floor (MIN_SCRAPE_DEADLINE, or --scrape.timeout if lower): a
        client announcing 1e-6 s gets a scrape that can finish, not 24 failed collectors and their logs."""
        default = self.settings.scrape_timeout
        offset = self.settings.scrape_timeout_offset
        header = request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
        try:
            told = float(header) if header else 0.0
        except ValueError:
            told = 0.0
        if told <= 0 or told != told:
            return default
        deadline = told - offset if told - offset > told * 0.1 else told * 0.9
        return max(deadline, min(MIN_SCRAPE_DEADLINE, default))

    def selected(self, request: web.Request) -> list[str]:
        collect = request.query.getall("collect[]", [])
        exclude = request.query.getall("exclude[]", [])
        if collect and exclude:
            raise web.HTTPBadRequest(text="collect[] and exclude[] cannot be combined\n")
        for name in collect + exclude:
            if name not in self.enabled:
                known = name in self.spec.collectors.names()
                reason = "disabled collector" if known else "unknown collector"
                raise web.HTTPBadRequest(text=f"{reason}: {name}\n")
        if collect:
            return [n for n in self.enabled if n in collect]
        return [n for n in self.enabled if n not in exclude]

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        """The configured targets (or the host), with the exporter's own metrics."""
        return await self._scrape_response(request, None)

    async def probe(self, request: web.Request) -> web.StreamResponse:
        """Multi-target mode: one allowed target, without the exporter's own metrics (as the Go exporters)."""
        return await self._scrape_response(request, request.query)

    async def _scrape_response(self, request: web.Request, probe_query) -> web.StreamResponse:
        if self.max_requests > 0 and self.in_flight >= self.max_requests:
            self._count(503)
            return web.Response(
                status=503, text=f"Limit of concurrent requests reached ({self.max_requests}), try again later.\n"
            )
        self.in_flight += 1
        try:
            try:
                names = self.selected(request)
                target = None if probe_query is None else await self.pool.probe(probe_query)
            except ProbeRefused as exc:
                self._count(400)
                self.probes_refused += 1
                log.warning("probe refused: %s", exc)
                return web.Response(status=400, text=f"{exc}\n")
            except web.HTTPBadRequest:
                self._count(400)
                raise
            timeout = self.scrape_timeout(request)
            if target is None:
                result = await self.pool.scrape_configured(names, timeout)
            else:
                result = await target.scraper.scrape(names, timeout)
                view = getattr(target.hooks, "probe_view", None)  # e.g. postgres' scope=database
                if view is not None:
                    result = view(result, probe_query)
            # only when enabled: Prometheus prefers OpenMetrics, whose counters all end in _total,
            # and the Go exporters answer text 0.0.4, so that is what the shared rules expect
            openmetrics = (
                self.settings.web_enable_openmetrics
                and "application/openmetrics-text" in request.headers.get("Accept", "")
            )
            compress = "gzip" in request.headers.get("Accept-Encoding", "")
            data = await self._body(result, openmetrics, compress, own_metrics=target is None)
            headers = {
                "Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE,
                "Vary": "Accept-Encoding",
            }
            if compress:
                headers["Content-Encoding"] = "gzip"
            self._count(200)
            return web.Response(body=data, headers=headers)
        finally:
            self.in_flight -= 1

    async def _body(self, result: ScrapeResult, openmetrics: bool, compress: bool, own_metrics: bool) -> bytes:
        """The encoded body, made once per scrape result and format: concurrent requests that
        share a scrape (coalesced) share its rendering too, so 8 scrapers of 100k series
        do not mean 8 renderings and 8 copies in memory. A large body is rendered on a worker
        thread, so /health and small scrapes are not held up meanwhile."""
        key = (openmetrics, compress)
        made = result.bodies.get(key)
        if made is not None:
            return await asyncio.shield(made)
        made = result.bodies[key] = asyncio.get_running_loop().create_future()
        try:
            families = result.families
            if own_metrics and not self.settings.web_disable_exporter_metrics:
                families, _ = merge(families + self.exporter_families())
            if self.spec.finish_families is not None:
                families = self.spec.finish_families(self.settings, families, own_metrics)
            if sum(len(f.samples) for f in families) > RENDER_IN_THREAD_SAMPLES:
                data = await asyncio.to_thread(_encode, families, openmetrics, compress)
            else:
                data = _encode(families, openmetrics, compress)
        except BaseException:
            del result.bodies[key]
            made.cancel()
            raise
        made.set_result(data)
        return data

    def _count(self, code: int) -> None:
        self.requests_by_code[code] = self.requests_by_code.get(code, 0) + 1

    def exporter_families(self) -> list[MetricFamily]:
        out = process_families()
        out.append(build_info_family(self.spec.name))
        if self.spec.go_build_info:
            out.append(
                go_build_info_family(self.spec.go_build_info, self.spec.go_build_info.removesuffix("_build_info"))
            )
        requests = HANDLER_REQUESTS.family()
        for code in (200, 500, 503, *sorted(self.requests_by_code)):
            requests.add((str(code),), self.requests_by_code.get(code, 0))
        in_flight = HANDLER_IN_FLIGHT.family()
        in_flight.add((), self.in_flight)
        dropped = SERIES_DROPPED.family()
        dropped.add((), self.pool.series_dropped)
        out += [requests, in_flight, dropped]
        if self.spec.exporter_families is not None:
            out += self.spec.exporter_families(self.settings)
        if self.spec.probe_errors_metric:  # redis_exporter's redis_target_scrape_request_errors_total
            refused = counter(self.spec.probe_errors_metric, "Errors in requests to the exporter").family()
            refused.add((), self.probes_refused)
            out.append(refused)
        return out

    # ---- health and landing ------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        """200 when every check passes, else 503; the JSON shape of the platform's own /health."""
        return await self.health_answer(self.health_checks)

    @staticmethod
    def health_handler(checks: dict[str, HealthCheck]) -> Callable[[web.Request], Awaitable[web.Response]]:
        """A /health route over ``checks`` (the fleet's shared listener: every member's checks)."""

        async def health(request: web.Request) -> web.Response:
            return await ExporterApp.health_answer(checks)

        return health

    @staticmethod
    async def health_answer(checks: dict[str, HealthCheck]) -> web.Response:
        body: dict = {"status": "healthy", "timestamp": now_iso(), "checks": {}}
        names = list(checks)
        results = await asyncio.gather(*(checks[n]() for n in names), return_exceptions=True)
        for name, res in zip(names, results):
            if res is None:
                body["checks"][name] = {"status": "healthy"}
            else:
                error = res if isinstance(res, str) else type(res).__name__
                body["checks"][name] = {"status": "unhealthy", "error": error}
                body["status"] = "unhealthy"
        return web.json_response(body, status=200 if body["status"] == "healthy" else 503)

    async def ready(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "timestamp": now_iso()})

    async def live(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive", "timestamp": now_iso()})

    def _collector_rows(self, status: dict) -> str:
        esc = html.escape
        rows = []
        for name in self.spec.collectors.names():
            cls = self.spec.collectors.get(name)
            st = status.get(name)
            if name not in self.enabled or st is None:
                state, dur, when, err = "disabled", "", "", ""
            elif st.success is None:
                state, dur, when, err = "not scraped yet", "", "", ""
            else:
                state = "ok" if st.success else "failed"
                dur = f"{st.duration * 1000:.1f} ms"
                when = datetime.fromtimestamp(st.finished_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                err = st.error
            rows.append(
                f'<tr class="{esc(state.split()[0])}"><td>{esc(name)}</td><td>{esc(state)}</td>'
                f'<td class="nowrap">{esc(dur)}</td><td class="nowrap">{esc(when)}</td><td>{esc(err)}</td>'
                f"<td>{esc(cls.description)}</td></tr>"
            )
        return (
            f"{self._summary(status)}\n<table><tr><th>collector</th><th>last status</th><th>duration</th>"
            "<th>last scrape</th><th>error</th><th>what it reads</th></tr>\n" + "\n".join(rows) + "\n</table>"
        )

    def _summary(self, status: dict) -> str:
        """One line above the table: "24/24 collectors ok", or which failed, or not scraped yet."""
        enabled = [name for name in self.spec.collectors.names() if name in self.enabled]
        results = [status[name].success if name in status else None for name in enabled]
        ok, failed = results.count(True), [n for n, r in zip(enabled, results) if r is False]
        waiting = results.count(None)
        text = f"{ok}/{len(enabled)} collectors ok"
        if failed:
            text += f", {len(failed)} failed: " + ", ".join(failed)
        if waiting:
            text += f", {waiting} not scraped yet"
        state = "failed" if failed else "ok" if not waiting else "waiting"
        return f'<p class="summary {state}">{html.escape(text)}</p>'

    async def landing(self, request: web.Request) -> web.Response:
        esc = html.escape
        sections = []
        for target in self.pool.configured:
            heading = f"Collectors: {esc(target.display)}" if target.display else "Collectors"
            sections.append(f"<h2>{heading}</h2>\n{self._collector_rows(target.scraper.status)}")
        probe = ""
        if self.spec.resolve_probe is not None:
            probe = (
                f"<li>{esc(self.spec.probe_path)}?target=HOST:PORT&amp;auth_module=NAME: multi-target mode, "
                f"only targets the config allows ({len(self.pool.probes)} in use)</li>"
            )
        page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>flextime-exporter {esc(self.spec.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:left}}
tr.failed{{background:#fdd}}tr.ok{{background:#efe}}tr.disabled{{color:#888}}.nowrap{{white-space:nowrap}}
p.summary{{font-weight:bold}}p.summary.failed{{color:#a00}}</style></head>
<body><h1>flextime-exporter {esc(self.spec.name)}</h1>
<p>{esc(self.spec.description)} Version {esc(__version__)}.</p>
<ul><li><a href="{esc(self.telemetry_path)}">{esc(self.telemetry_path)}</a> metrics</li>
{probe}<li><a href="/health">/health</a>, <a href="/ready">/ready</a>, <a href="/live">/live</a></li></ul>
{chr(10).join(sections)}
</body></html>
"""
        return web.Response(text=page, content_type="text/html")
