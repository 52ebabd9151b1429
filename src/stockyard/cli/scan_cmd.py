"""`stockyard scan`: identify artifacts' contents, load OSV data offline, report findings.

One scan database per data directory (`<data>/scan.db`, or `--scan-db`), shared by the served
channels and by channel directories scanned from this machine: results are per artifact sha256.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stdout

if TYPE_CHECKING:
    from stockyard.scan.report import ChannelReport
    from stockyard.scan.service import ArtifactRef
    from stockyard.scan.store import ScanStore

scan_app = typer.Typer(
    help="Vulnerability scans: OSV data, per-artifact identification, reports.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="The offline vulnerability database (OSV exports).", no_args_is_help=True)
scan_app.add_typer(db_app, name="db")

SCAN_DB_HELP = "Scan database file. Default: <data>/scan.db."
TARGET_HELP = "A channel directory (with <subdir>/ folders), or the name of a served channel."


def _open_store(
    data: Path | None, config: Path | None, scan_db: Path | None, *, create: bool
) -> ScanStore:
    from stockyard.scan.store import ScanStore, default_scan_db

    if scan_db is None:
        scan_db = default_scan_db(load_cli_settings(config, data).data_path)
    return ScanStore(scan_db, create=create)


def _artifact_refs(
    target: str, data: Path | None, config: Path | None
) -> tuple[list[ArtifactRef], Path | None]:
    """A channel directory's artifacts, or a served channel's (from the server's catalog, in
    its store: a local directory or the bucket of `storage_url`), with the scratch folder
    artifacts of a bucket are fetched to (the channel's working area)."""
    from stockyard.scan.sources import catalog_artifacts, channel_dir_artifacts

    if os.path.isdir(target):
        return channel_dir_artifacts(Path(target)), None
    from stockyard.server.channels import layout_for, open_catalog

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        layout = layout_for(settings)
        refs = catalog_artifacts(catalog, target, layout.store(target))
        return refs, layout.workspace(target).scratch
    finally:
        catalog.close()


@db_app.command("update")
def db_update(
    source: Path = typer.Option(
        ...,
        "--from",
        help="OSV export: a zip (PyPI's all.zip), a folder of OSV JSON documents, or a document.",
    ),
    merge: bool = typer.Option(
        False,
        "--merge",
        help="Add to the stored advisories instead of replacing those of the export's ecosystems.",
    ),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    scan_db: Path = typer.Option(None, "--scan-db", help=SCAN_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Load OSV data offline and match every scanned artifact again (no artifact is read)."""
    from stockyard.scan.service import update_database

    store = _open_store(data, config, scan_db, create=True)
    try:
        result = update_database(store, source, merge=merge)
    finally:
        store.close()
    if as_json:
        print_json(result.to_dict())
        return
    stdout.print(
        f"loaded {result.advisories_loaded} advisories from {result.documents} documents "
        f"({', '.join(result.ecosystems) or 'no ecosystem'}): {result.advisories_stored} stored; "
        f"skipped {result.skipped_documents} documents and {result.skipped_ranges} malformed "
        f"ranges, {result.withdrawn} withdrawn; {result.findings} findings after re-matching",
        highlight=False,
    )
    for warning in result.warnings[:20]:
        stdout.print(f"  warning: {warning}", highlight=False)
    if result.warning_count > 20:
        stdout.print(f"  ... {result.warning_count - 20} more warnings (--json lists 200)")


@scan_app.command("run")
def run(
    target: str = typer.Argument(..., help=TARGET_HELP),
    workers: int = typer.Option(0, "--workers", "-j", help="Reader processes (0: one per CPU)."),
    force: bool = typer.Option(False, "--force", help="Scan again artifacts already scanned."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    scan_db: Path = typer.Option(None, "--scan-db", help=SCAN_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Identify the contents of every artifact not scanned yet and match them. A served
    channel's artifacts are read from its storage (from a bucket: fetched a few at a time to
    its working area and deleted after)."""
    from stockyard.scan.service import scan_artifacts

    refs, scratch = _artifact_refs(target, data, config)
    store = _open_store(data, config, scan_db, create=True)
    try:
        summary = scan_artifacts(
            store,
            refs,
            workers=workers or (os.cpu_count() or 1),
            force=force,
            scratch=scratch,
        )
    finally:
        store.close()
    if as_json:
        print_json(summary.to_dict())
        return
    for path, message in summary.errors:
        stdout.print(f"[yellow]unreadable[/] {path}: {message}", highlight=False)
    stdout.print(
        f"scanned {summary.scanned} of {summary.artifacts} artifacts "
        f"({summary.already_scanned} already scanned, {len(summary.errors)} unreadable): "
        f"{summary.components} components, {summary.findings} findings "
        f"in {summary.seconds:.2f}s",
        highlight=False,
    )


@scan_app.command("report")
def report(
    target: str = typer.Argument(..., help=TARGET_HELP),
    include_clean: bool = typer.Option(False, "--all", help="List clean artifacts too."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    scan_db: Path = typer.Option(None, "--scan-db", help=SCAN_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """The channel's known vulnerabilities, per artifact (from stored scans; nothing is read)."""
    from stockyard.scan.report import channel_report, to_builtins

    refs, _scratch = _artifact_refs(target, data, config)
    store = _open_store(data, config, scan_db, create=False)
    try:
        result = channel_report(store, target, refs, include_clean=include_clean)
    finally:
        store.close()
    if as_json:
        print_json(to_builtins(result))
        return
    _print_report(result)


def _print_report(result: ChannelReport) -> None:
    from rich.markup import escape

    counts = ", ".join(f"{n} {level}" for level, n in result.by_severity.items() if n)
    stdout.print(
        f"{escape(result.channel)}: {result.artifacts} artifacts, {result.scanned} scanned, "
        f"{result.vulnerable} with known vulnerabilities ({counts or 'none'}), "
        f"{result.errors} unreadable, {result.not_scanned} not scanned; "
        f"{result.database['advisories']} advisories loaded",
        highlight=False,
    )
    for item in result.reports:
        where = escape(f"{item.subdir}/{item.filename}")
        if item.status == "error":
            stdout.print(
                f"  {where}: [yellow]unreadable[/]: {escape(item.error or '')}", highlight=False
            )
            continue
        stdout.print(f"  {where}: {item.status} ({item.max_severity or '-'})", highlight=False)
        for f in item.findings:
            fixed = f", fixed in {', '.join(f.fixed)}" if f.fixed else ""
            stdout.print(
                f"    {f.severity:8} {f.advisory_id} {escape(f.purl)}{fixed}: {escape(f.summary)}",
                highlight=False,
            )


@scan_app.command("policy")
def policy(
    channel: str = typer.Argument(..., help="A channel of the server's data directory."),
    mode: str = typer.Option(
        None, "--mode", help="off | flag (record and show) | refuse (refuse vulnerable uploads)."
    ),
    threshold: str = typer.Option(
        None, "--threshold", help="Lowest severity refused: low, medium, high, critical."
    ),
    accept: list[str] = typer.Option(
        [], "--accept", metavar="ADVISORY", help="An advisory id (or alias) to accept."
    ),
    refuse_unknown: bool = typer.Option(
        None, "--refuse-unknown/--allow-unknown", help="Refuse findings of unknown severity."
    ),
    clear: bool = typer.Option(False, "--clear", help="Stop scanning uploads to the channel."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """Show or set the channel's upload scan policy (uploads are matched against the OSV data
    loaded with `stockyard scan db update`)."""
    import msgspec

    from stockyard.server.channels import open_catalog
    from stockyard.types.policy import ScanPolicy

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        found = catalog.require_channel(channel)
        stored = catalog.channel_policy(found.id)
        current = stored.scan or ScanPolicy()
        changes = {"mode": mode, "threshold": threshold, "refuse_unknown": refuse_unknown}
        changes = {k: v for k, v in changes.items() if v is not None}
        if accept:
            changes["accept"] = tuple(accept)
        updated = None if clear else _converted(msgspec.structs.replace(current, **changes))
        if clear or changes:
            catalog.set_channel_policy(found.id, msgspec.structs.replace(stored, scan=updated))
        shown = catalog.channel_policy(found.id).scan
    finally:
        catalog.close()
    print_json(msgspec.to_builtins(shown) if shown else None)


def _converted(policy: Any) -> Any:
    """The policy checked against its schema (an unknown mode or severity is an error)."""
    import msgspec

    from stockyard.types.errors import ConfigError
    from stockyard.types.policy import ScanPolicy

    try:
        return msgspec.convert(msgspec.to_builtins(policy), ScanPolicy)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"invalid scan policy: {exc}",
            hint="--mode is off, flag or refuse; --threshold is low, medium, high or critical.",
        ) from None


def register(app: typer.Typer) -> None:
    app.add_typer(scan_app, name="scan")
