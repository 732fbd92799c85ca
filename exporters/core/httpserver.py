"""The HTTP connection layer under every exporter's aiohttp application: what a client that does not
speak HTTP properly gets, and what it can make the exporter log.

Before authentication anyone can send bytes, so a malformed request must cost one debug line at most
(aiohttp logs each at ERROR with a traceback: ~10 lines a request, an unauthenticated way to fill the
disk), and the answer must not echo what was sent (a 400 body quoting the request line). The
``Server`` header names no versions. Errors of our own handlers (HTTP 500) still log at ERROR with
their traceback: they are bugs to see.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web, web_protocol, web_server
from aiohttp.http_exceptions import HttpProcessingError

SERVER_NAME = "flextime-exporter"  # the Server header: no Python or aiohttp version for a scanner

log = logging.getLogger("exporters.http")


def plain_error(status: int) -> web.Response:
    """An error answer that says only its status; the connection is closed after it."""
    resp = web.Response(status=status, text=f"{status} {HTTPStatus(status).phrase}\n", headers={"Server": SERVER_NAME})
    resp.force_close()
    return resp


class _RequestHandler(web_protocol.RequestHandler):
    def handle_error(
        self, request, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500 and not isinstance(exc, HttpProcessingError):
            resp = super().handle_error(request, status, exc, message)
            resp.headers["Server"] = SERVER_NAME
            return resp
        # a request that is not HTTP, or not valid HTTP: the client's problem, one debug line at most
        log.debug("bad request from %s: %s (HTTP %d)", request.remote, type(exc).__name__ if exc else "", status)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had started; closing the connection")
        return plain_error(status)


class _Server(web_server.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return _RequestHandler(self, loop=self._loop, **self._kwargs)


class ExporterRunner(web.AppRunner):
    """aiohttp's AppRunner with the quiet protocol-error handling above."""

    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # same state, our handler class for every new connection
        return server


async def set_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: every answer of the application names no versions."""
    response.headers["Server"] = SERVER_NAME
