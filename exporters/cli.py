"""``flextime-exporter``: one subcommand per exporter of the fleet.

Each exporter is imported only when its subcommand runs, so the host exporter never loads a
database driver (memory: docs/architecture.md); the commands are listed in exporters/catalogue.py."""

from __future__ import annotations

import sys

import click

from . import __version__
from .catalogue import EXPORTERS, TOOLS, load_spec
from .core.errors import ConfigError


class FleetGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(EXPORTERS) + sorted(TOOLS)

    def get_command(self, ctx, name):
        if name in TOOLS:
            return TOOLS[name].command()
        if name not in EXPORTERS:
            return None
        from .core.runtime import build_command

        return build_command(load_spec(name))

    def format_commands(self, ctx, formatter):
        # describe subcommands without importing them
        rows = [(name, EXPORTERS[name].description) for name in sorted(EXPORTERS)]
        with formatter.section("Exporters"):
            formatter.write_dl(rows)
        with formatter.section("Other commands"):
            formatter.write_dl([(name, TOOLS[name].description) for name in sorted(TOOLS)])


@click.group(cls=FleetGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(__version__, prog_name="flextime-exporter")
def cli():
    """Prometheus exporters for hosts, PostgreSQL, Redis and job queues.

    Every flag can also be set by an environment variable, shown in each
    subcommand's --help (FLEXTIME_<EXPORTER>_<FLAG>)."""


def main(argv: list[str] | None = None) -> None:
    """Bad input ends in one line naming the problem and exit status 2, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    prog = "flextime-exporter"
    try:
        cli.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else prog  # "flextime-exporter rules check"
        print(f"{where}: error: {exc.format_message()} (see --help)", file=sys.stderr)
        sys.exit(2)
    except click.Abort:
        sys.exit(1)
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
