"""The HTTP side every exporter shares: /metrics, health routes, the landing page,
content negotiation, gzip, and the web-config protections (TLS, basic auth,
security headers, rate limit). It knows nothing about hosts or databases."""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import html
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable

from aiohttp import web

from .. import __version__
from .collector import Settings
from .errors import ConfigError
from .metrics import (
    OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, MetricFamily, counter, gauge, merge, render_openmetrics,
    render_text,
)
from .scrape import Scraper
from .selfmetrics import build_info_family, process_families
from .webconfig import WebConfigWatcher

log = logging.getLogger("exporters.web")

# A health check returns None when healthy, or a short reason (never a secret).
HealthCheck = Callable[[], Awaitable[str | None]]

HANDLER_REQUESTS = counter("promhttp_metric_handler_requests_total",
                           "Total number of scrapes by HTTP status code.", "code")
HANDLER_IN_FLIGHT = gauge("promhttp_metric_handler_requests_in_flight",
                          "Current number of scrapes being served.")
SERIES_DROPPED = counter("flextime_exporter_series_dropped_total",
                         "Samples dropped because they duplicated a series or conflicted with a family's type.")

GZIP_LEVEL = 1  # ~6x smaller than plain text for exposition; level 9 costs 30x the CPU for 30% less


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


@dataclass
class ExporterSpec:
    """What makes one exporter of the fleet: its name, metric namespace, port,
    collectors, own flags, start-up validation and health checks."""

    name: str
    namespace: str
    default_port: int
    collectors: "object"  # CollectorSet
    flags: tuple = ()
    validate: Callable[[Settings], None] | None = None
    health_checks: Callable[[Settings], dict[str, HealthCheck]] | None = None
    description: str = ""
    # builds the exporter's ScrapeHooks (its connection to the target); collectors find it as settings.hooks
    hooks: Callable[[Settings], object] | None = None


class ExporterApp:
    """The aiohttp application of one running exporter."""

    def __init__(self, spec: ExporterSpec, settings: Settings, scraper: Scraper, enabled: list[str],
                 web_config: WebConfigWatcher) -> None:
        self.spec = spec
        self.settings = settings
        self.scraper = scraper
        self.enabled = enabled
        self.web_config = web_config
        self.telemetry_path = settings.web_telemetry_path
        self.max_requests = settings.web_max_requests
        self.in_flight = 0
        self.requests_by_code: dict[int, int] = {}
        self.health_checks = spec.health_checks(settings) if spec.health_checks else {}
        self.started_at = time.time()

    # ---- application -------------------------------------------------------------------------
    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._protect])
        app.router.add_get(self.telemetry_path, self.metrics)
        app.router.add_get("/health", self.health)
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/live", self.live)
        if self.telemetry_path != "/":
            app.router.add_get("/", self.landing)
        return app

    @web.middleware
    async def _protect(self, request: web.Request, handler):
        """TLS client SAN check, rate limit and basic auth from the web config; security headers on every answer."""
        cfg = self.web_config.current()
        if cfg.allowed_sans:
            cert = request.transport.get_extra_info("peercert") if request.transport else None
            sans = {v for _, v in (cert or {}).get("subjectAltName", ())}
            if not sans & set(cfg.allowed_sans):
                return self._with_headers(web.Response(status=403, text="client certificate not allowed\n"), cfg)
        if not self.web_config.take_token():
            return self._with_headers(web.Response(status=429, text="Too Many Requests\n"), cfg)
        if cfg.users:
            if not await self._authorised(request):
                resp = web.Response(status=401, text="Unauthorized\n",
                                    headers={"WWW-Authenticate": 'Basic realm="flextime-exporter"'})
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
        """Prometheus says how long it waits; answer a margin before that."""
        default = self.settings.scrape_timeout
        offset = self.settings.scrape_timeout_offset
        header = request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
        try:
            told = float(header) if header else 0.0
        except ValueError:
            told = 0.0
        if told <= 0 or told != told:
            return default
        return told - offset if told - offset > told * 0.1 else told * 0.9

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
        if self.max_requests > 0 and self.in_flight >= self.max_requests:
            self._count(503)
            return web.Response(status=503, text=f"Limit of concurrent requests reached ({self.max_requests}), try again later.\n")
        self.in_flight += 1
        try:
            try:
                names = self.selected(request)
            except web.HTTPBadRequest:
                self._count(400)
                raise
            result = await self.scraper.scrape(names, self.scrape_timeout(request))
            families = result.families
            if not self.settings.web_disable_exporter_metrics:
                families, _ = merge(families + self.exporter_families())
            accept = request.headers.get("Accept", "")
            if "application/openmetrics-text" in accept:
                body, ctype = render_openmetrics(families), OPENMETRICS_CONTENT_TYPE
            else:
                body, ctype = render_text(families), TEXT_CONTENT_TYPE
            data = body.encode()
            headers = {"Content-Type": ctype, "Vary": "Accept-Encoding"}
            if "gzip" in request.headers.get("Accept-Encoding", ""):
                data = gzip.compress(data, compresslevel=GZIP_LEVEL)
                headers["Content-Encoding"] = "gzip"
            self._count(200)
            return web.Response(body=data, headers=headers)
        finally:
            self.in_flight -= 1

    def _count(self, code: int) -> None:
        self.requests_by_code[code] = self.requests_by_code.get(code, 0) + 1

    def exporter_families(self) -> list[MetricFamily]:
        out = process_families()
        out.append(build_info_family(self.spec.name))
        requests = HANDLER_REQUESTS.family()
        for code in (200, 500, 503, *sorted(self.requests_by_code)):
            requests.add((str(code),), self.requests_by_code.get(code, 0))
        in_flight = HANDLER_IN_FLIGHT.family()
        in_flight.add((), self.in_flight)
        dropped = SERIES_DROPPED.family()
        dropped.add((), self.scraper.series_dropped)
        return [*out, requests, in_flight, dropped]

    # ---- health and landing ------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        """200 when every check passes, else 503; the JSON shape of the platform's own /health."""
        body = {"status": "healthy", "timestamp": now_iso(), "checks": {}}
        names = list(self.health_checks)
        results = await asyncio.gather(*(self.health_checks[n]() for n in names), return_exceptions=True)
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

    async def landing(self, request: web.Request) -> web.Response:
        esc = html.escape
        rows = []
        for name in self.spec.collectors.names():
            cls = self.spec.collectors.get(name)
            st = self.scraper.status.get(name)
            if name not in self.enabled or st is None:
                state, dur, when, err = "disabled", "", "", ""
            elif st.success is None:
                state, dur, when, err = "not scraped yet", "", "", ""
            else:
                state = "ok" if st.success else "failed"
                dur = f"{st.duration * 1000:.1f} ms"
                when = datetime.fromtimestamp(st.finished_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                err = st.error
            rows.append(f"<tr class=\"{esc(state.split()[0])}\"><td>{esc(name)}</td><td>{esc(state)}</td>"
                        f"<td>{esc(dur)}</td><td>{esc(when)}</td><td>{esc(err)}</td>"
                        f"<td>{esc(cls.description)}</td></tr>")
        page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>flextime-exporter {esc(self.spec.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:left}}
tr.failed{{background:#fdd}}tr.ok{{background:#efe}}tr.disabled{{color:#888}}</style></head>
<body><h1>flextime-exporter {esc(self.spec.name)}</h1>
<p>{esc(self.spec.description)} Version {esc(__version__)}.</p>
<ul><li><a href="{esc(self.telemetry_path)}">{esc(self.telemetry_path)}</a> metrics</li>
<li><a href="/health">/health</a>, <a href="/ready">/ready</a>, <a href="/live">/live</a></li></ul>
<h2>Collectors</h2>
<table><tr><th>collector</th><th>last status</th><th>duration</th><th>last scrape</th><th>error</th><th>what it reads</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
        return web.Response(text=page, content_type="text/html")
