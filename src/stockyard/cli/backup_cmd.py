"""`stockyard backup DEST` and `stockyard restore SRC`: a point-in-time copy of a deployment
(catalog and published files) and applying it to a fresh one (docs/backup.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stderr, stdout

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

_DATA = typer.Option(None, "--data", "-d", help=DATA_HELP)
_CONFIG = typer.Option(None, "--config", "-c", help=CONFIG_HELP)
_JSON = typer.Option(False, "--json", help="Print the summary as JSON on stdout.")


class _RichProgress:
    """One bar per phase, on stderr (stdout stays for the summary or --json)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar: RichProgress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=stderr,
            transient=True,
        )
        self.task: TaskID | None = None

    def phase(self, name: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.update(self.task, visible=False)
        self.task = self.bar.add_task(name, total=total)

    def advance(self, amount: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, amount)


def backup(
    dest: Path = typer.Argument(..., help="A new or empty directory for the backup."),
    data: Path = _DATA,
    config: Path = _CONFIG,
    no_artifacts: bool = typer.Option(
        False,
        "--no-artifacts",
        help="Leave local artifacts out (only listed, with size and sha256). Artifacts in a "
        "bucket are always left there.",
    ),
    as_json: bool = _JSON,
) -> None:
    """Back up the deployment: every catalog table read in one transaction, then the published
    files of every channel (repodata and variants, shards, channeldata, index.html, run_exports,
    patch and trust sidecars) checked against it, and the local artifacts (hard links when DEST
    is on the same file system). Artifacts in a bucket stay there and are listed with their
    sha256. Uploads go on meanwhile; files a concurrent publish changed are left out and
    republished by the restore. Ends with manifest.json (sha256 of every file)."""
    from stockyard.backup import BackupOptions, create_backup

    settings = load_cli_settings(config, data)
    options = BackupOptions(include_artifacts=not no_artifacts, lock_timeout=settings.lock_timeout)
    progress = _RichProgress()
    with progress.bar:
        result = create_backup(settings, dest, options, progress)
    summary = result.to_dict()
    if as_json:
        print_json(summary)
        return
    _print_backup(summary)


def restore(
    source: Path = typer.Argument(..., help="The backup's directory (holds manifest.json)."),
    data: Path = _DATA,
    config: Path = _CONFIG,
    allow_missing_artifacts: bool = typer.Option(
        False,
        "--allow-missing-artifacts",
        help="Restore even when artifacts the backup left in storage are missing or changed "
        "(their packages are dropped from the restored channels).",
    ),
    as_json: bool = _JSON,
) -> None:
    """Restore a backup into a FRESH deployment (no channel in its catalog yet): the backup's
    sha256s are checked first (a damaged backup is refused before anything is written), then
    files go through the deployment's storage, the catalog rows are inserted with their ids
    (SQLite or PostgreSQL, whichever the backup came from), and what the backup marked is
    republished. Artifacts the backup left in storage must be in the target's storage."""
    from stockyard.backup import RestoreOptions, restore_backup

    settings = load_cli_settings(config, data)
    options = RestoreOptions(allow_missing_artifacts=allow_missing_artifacts)
    progress = _RichProgress()
    with progress.bar:
        result = restore_backup(settings, source, options, progress)
    summary = result.to_dict()
    if as_json:
        print_json(summary)
        return
    _print_restore(summary)


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def _print_warnings(warnings: list[str]) -> None:
    from rich.markup import escape

    for warning in warnings:
        stderr.print(f"[yellow]note:[/] {escape(warning)}", highlight=False)


def _print_backup(summary: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(highlight=False)
    for column in ("channel", "files", "size", "artifacts kept in storage", "republish on restore"):
        table.add_column(column)
    for channel in summary["channels"]:
        table.add_row(
            escape(channel["name"]),
            str(channel["files"]),
            _size(channel["bytes"]),
            str(channel["kept_artifacts"]),
            escape(", ".join(channel["republish_on_restore"]) or "-"),
        )
    stdout.print(table)
    rows = sum(summary["tables"].values())
    stdout.print(
        f"[green]backup written[/] to {escape(summary['path'])}: catalog snapshot of "
        f"{summary['created_at']} ({rows} rows in {len(summary['tables'])} tables), "
        f"{summary['files']} files ({_size(summary['bytes'])}), "
        f"{summary['linked_artifacts']} artifacts hard-linked, "
        f"{summary['kept_artifacts']} left in storage, in {summary['seconds']:.1f} s",
        highlight=False,
    )
    _print_warnings(summary["warnings"])


def _print_restore(summary: dict[str, Any]) -> None:
    from rich.markup import escape

    rows = sum(summary["tables"].values())
    republished = ", ".join(summary["republished"]) or "nothing"
    stdout.print(
        f"[green]restored[/] the backup of {summary['created_at']} "
        f"({summary['backup_dialect']}): {len(summary['channels'])} channels, {rows} rows, "
        f"{summary['files']} files ({_size(summary['bytes'])}), "
        f"{summary['kept_artifacts_checked']} artifacts found in storage; republished: "
        f"{escape(republished)}; in {summary['seconds']:.1f} s",
        highlight=False,
    )
    for problem in summary["missing_artifacts"]:
        stderr.print(f"[yellow]missing:[/] {escape(problem)}", highlight=False)
    _print_warnings(summary["warnings"])


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
