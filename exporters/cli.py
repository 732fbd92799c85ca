"""``flextime-exporter``: one subcommand per exporter of the fleet.

Each exporter is imported only when its subcommand runs, so the host exporter
never loads a database driver (memory: see shared/design/ARCHITECTURE.md)."""

from __future__ import annotations

import importlib
import sys

import click

from . import __version__
from .core.errors import ConfigError, did_you_mean, error_line

# subcommand -> "module:attribute" of its ExporterSpec
EXPORTERS = {
    "node": ("exporters.node", "SPEC", "Host metrics with node_exporter's names (default port 9100)."),
    "postgres": ("exporters.postgres", "SPEC",
                 "PostgreSQL metrics with postgres_exporter's names (default port 9187)."),
    "redis": ("exporters.redis", "SPEC", "Redis and Valkey metrics with redis_exporter's names (default port 9121)."),
    "scheduler": ("exporters.scheduler", "SPEC",
                  "FlexTime scheduling metrics and job-queue health from BullMQ, RQ or a SQL job table "
                  "(default port 9839)."),
}


# commands that are not exporters: name -> ("module", "attribute" of its click command, description);
# their modules load only when they run
TOOLS = {
    "rules": ("exporters.cli", "rules",
              "Check Prometheus rule files and Grafana dashboards: is every series they use provided by the "
              "fleet, by another component, or by nothing?"),
    "fleet": ("exporters.fleet", "command",
              "Run several exporters in one process, each on its own port or path (--config fleet.yml)."),
    "inject": ("exporters.inject.command", "inject",
               "Sidecar injection webhook: adds the postgres or redis exporter to pods annotated "
               "exporters.flextime.io/inject (AdmissionReview over TLS)."),
}


def load_spec(name: str):
    module, attr, _ = EXPORTERS[name]
    return getattr(importlib.import_module(module), attr)


class FleetGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(EXPORTERS) + sorted(TOOLS)

    def get_command(self, ctx, name):
        if name in TOOLS:
            module, attr, _ = TOOLS[name]
            return getattr(importlib.import_module(module), attr)
        if name not in EXPORTERS:
            return None
        from .core.runtime import build_command

        return build_command(load_spec(name))

    def format_commands(self, ctx, formatter):
        # describe subcommands without importing them
        rows = [(name, EXPORTERS[name][2]) for name in sorted(EXPORTERS)]
        with formatter.section("Exporters"):
            formatter.write_dl(rows)
        with formatter.section("Other commands"):
            formatter.write_dl([(name, TOOLS[name][2]) for name in sorted(TOOLS)])


@click.group(invoke_without_command=True, no_args_is_help=False,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.pass_context
def rules(ctx):
    """Prometheus rule files and Grafana dashboards."""
    if ctx.invoked_subcommand is None:
        raise click.UsageError("missing command: rules check FILES...", ctx)


@rules.command("check", short_help="List the series that rule files and dashboards use, and who provides each.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
def rules_check(files):
    """List every series the rule files and dashboards FILES use, and who provides it.

    FILES are Prometheus rule files (YAML) and Grafana dashboards (JSON); a directory is
    searched for *.yml, *.yaml and *.json (files there that are neither are skipped).
    Each series is provided by an exporter of the fleet, by a recording rule of FILES,
    by another component (the application's http_*, kube-state-metrics' kube_*,
    Prometheus' up, ALERTS and scrape_*), or it is MISSING.

    Exit status: 0 when nothing is missing, 1 when a series is provided by nothing,
    2 for a file that is not a rule file or dashboard."""
    from .rules import check

    # SystemExit, not ctx.exit(): with standalone_mode=False click would turn ctx.exit(1) into a return value
    sys.exit(check(files, out=sys.stdout, err=sys.stderr))


@click.group(cls=FleetGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(__version__, prog_name="flextime-exporter")
def cli():
    """Prometheus exporters for hosts, PostgreSQL, Redis and job queues.

    Every flag can also be set by an environment variable, shown in each
    subcommand's --help (FLEXTIME_<EXPORTER>_<FLAG>)."""


def _usage_message(exc: click.UsageError) -> str:
    """click's message with its suggestions in our one format (click has two, and none for lazy commands)."""
    name = getattr(exc, "option_name", None) or getattr(exc, "command_name", None)
    possibilities = list(getattr(exc, "possibilities", None) or ())
    if name is None or not hasattr(exc, "possibilities"):
        return exc.format_message()
    if not possibilities and hasattr(exc, "command_name") and exc.ctx and isinstance(exc.ctx.command, click.Group):
        import difflib

        possibilities = difflib.get_close_matches(name, exc.ctx.command.list_commands(exc.ctx))
    return " ".join(filter(None, [exc.message, did_you_mean(sorted(possibilities))]))


def _command_path(prog: str, args: list[str]) -> str:
    """The (sub)command ``args`` name, as click names it: "flextime-exporter rules check"."""
    path, command = [prog], cli
    for arg in args:
        if not isinstance(command, click.Group) or arg not in command.list_commands(None):
            break
        path.append(arg)
        command = command.get_command(None, arg)
    return " ".join(path)


def main(argv: list[str] | None = None) -> None:
    """Bad input ends in one line naming the problem and exit status 2, never a traceback:
    ``flextime-exporter <sub>: error: <message>``."""
    args = sys.argv[1:] if argv is None else argv
    prog = "flextime-exporter"
    try:
        cli.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx else prog  # "flextime-exporter rules check"
        print(error_line(path, f"{_usage_message(exc)} (see --help)"), file=sys.stderr)
        sys.exit(2)
    except click.Abort:
        sys.exit(1)
    except ConfigError as exc:
        print(error_line(_command_path(prog, args), str(exc)), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
