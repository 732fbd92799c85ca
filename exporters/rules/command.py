"""``flextime-exporter rules``: the click command of the rules package."""

from __future__ import annotations

import sys

import click

from .checker import check


@click.group(
    invoke_without_command=True,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)
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

    # SystemExit, not ctx.exit(): with standalone_mode=False click would turn ctx.exit(1) into a return value
    sys.exit(check(files, out=sys.stdout, err=sys.stderr))
