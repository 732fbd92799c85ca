"""``flextime-exporter inject``: the click command (imports only click until it runs)."""

from __future__ import annotations

import importlib.util

import click

from ..core.logging import FORMATS, LEVELS
from .patch import DEFAULT_IMAGE


def _env(flag: str) -> str:
    return "FLEXTIME_INJECT_" + flag.upper().replace(".", "_").replace("-", "_")


def _opt(flag: str, dest: str, help: str, **kw):
    return click.option(f"--{flag}", dest, envvar=_env(flag), show_envvar=True, help=help, **kw)


class InjectCommand(click.Command):
    """Says that the kubernetes package (the inject extra) is missing before anything else, --help aside."""

    def parse_args(self, ctx, args):
        wants_help = any(a in ctx.help_option_names for a in args)
        if not wants_help and importlib.util.find_spec("kubernetes") is None:
            from ..core.errors import ConfigError

            raise ConfigError("the kubernetes package is missing: pip install 'flextime-exporters[inject]'")
        return super().parse_args(ctx, args)


@click.command(
    "inject",
    cls=InjectCommand,
    context_settings={"max_content_width": 120},
    short_help="Sidecar injection webhook for pods annotated exporters.flextime.io/inject.",
)
@_opt(
    "web.listen-address",
    "listen",
    "Address to serve the webhook on, [host]:port (IPv6 in brackets); repeatable.",
    multiple=True,
    default=(":8443",),
    show_default=True,
    metavar="[HOST]:PORT",
)
@_opt(
    "tls.cert-file",
    "cert_file",
    "PEM certificate (chain) the webhook serves; loaded again when it changes.",
    required=True,
    metavar="FILE",
)
@_opt("tls.key-file", "key_file", "PEM private key of --tls.cert-file (unencrypted).", required=True, metavar="FILE")
@_opt("image", "image", "Image of the injected exporter container.", default=DEFAULT_IMAGE, show_default=True)
@_opt(
    "log.level",
    "log_level",
    "Only log messages with this severity or above.",
    default="info",
    show_default=True,
    type=click.Choice([k for k in LEVELS if k != "warning"]),
)
@_opt(
    "log.format",
    "log_format",
    "text: '<ISO8601> <LEVEL> [<component>] <message>'; json: one object a line.",
    default="text",
    show_default=True,
    type=click.Choice(FORMATS),
)
def inject(listen, cert_file, key_file, image, log_level, log_format):
    """Mutating admission webhook: adds the postgres or redis exporter as a sidecar to pods annotated
    exporters.flextime.io/inject: postgres|redis (POST /mutate, AdmissionReview v1), over TLS.
    /live and /ready answer for the probes. The annotations are listed in docs/inject.md.

    A review it cannot read is answered 'allowed' without a patch and logged: a broken
    injector never blocks pod creation."""
    from ..core.errors import ConfigError
    from ..core.logging import setup_logging
    from ..core.runtime import serve_until_stopped
    from ..core.server import parse_listen_address
    from .server import TLSFiles, check_kubernetes_package, serve

    setup_logging(log_level, log_format)
    addresses = [(a, *parse_listen_address(a)) for a in listen]
    if not image.strip():
        raise ConfigError("--image must not be empty")
    tls = TLSFiles(cert_file, key_file)
    check_kubernetes_package(image)
    serve_until_stopped(serve(addresses, tls, image))
