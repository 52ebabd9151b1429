"""`stockyard check-config`: validate the settings and reach each component they configure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP
from stockyard.cli.output import print_json, stdout

if TYPE_CHECKING:
    from stockyard.config.check import ConfigReport

_STYLES = {"ok": "green", "warning": "yellow", "failed": "bold red", "skipped": "dim"}


def check_config(
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    timeout: float = typer.Option(
        5.0, "--timeout", min=0.1, help="Seconds each component may take to answer."
    ),
) -> None:
    """Check the settings, then connect to each component they configure: the catalog database
    (connection, schema version, can write), the storage (a probe object is put, read, listed
    and deleted; or the directory is writable), the Redis broker (PING), public_url, the TLS
    files (readable, key matches certificate, expiry) and the purge webhook URL.

    Nothing is changed. Secrets are shown masked. Exit code 0 when nothing failed, 1 otherwise.
    """
    from stockyard.config.check import check_config as run_checks

    overrides = {"data_dir": str(data) if data is not None else None}
    report = run_checks(config, overrides=overrides, timeout=timeout)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_table(report)
    raise typer.Exit(0 if report.ok else 1)


def _print_table(report: ConfigReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=False, highlight=False)
    table.add_column("component", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("target", overflow="fold")
    table.add_column("detail / what to do", overflow="fold")
    for check in report.checks:
        text = escape(check.detail)
        if check.hint:
            text += f"\n[dim]{escape(check.hint)}[/]"
        style = _STYLES[check.status]
        table.add_row(check.component, f"[{style}]{check.status}[/]", escape(check.target), text)
    stdout.print(table)
    failed = [check.component for check in report.checks if check.status == "failed"]
    if failed:
        stdout.print(f"[bold red]{len(failed)} failed:[/] {', '.join(failed)}", highlight=False)
    else:
        stdout.print("[green]all configured components are reachable[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("check-config")(check_config)
