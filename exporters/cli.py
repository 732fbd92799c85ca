"""``flextime-exporter``: one subcommand per exporter of the fleet.

Each exporter is imported only when its subcommand runs, so the host exporter never loads a
database driver (memory: docs/architecture.md); the commands are listed in exporters/catalogue.py."""

from __future__ import annotations

import sys

import click

from . import __version__
from .catalogue import EXPORTERS, TOOLS, load_spec
from .core.errors import ConfigError, did_you_mean, error_line


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
