"""`stockyard sbom`: a CycloneDX 1.6 JSON SBOM of artifacts, a solved environment or a lockfile."""

from __future__ import annotations

from pathlib import Path

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import stdout
from stockyard.types.errors import StockyardError


class SbomUsageError(StockyardError):
    default_hint = (
        "Give artifact files, or --spec SPEC --channel URL (solved with py-rattler), or "
        "--lockfile pixi.lock."
    )


def sbom(
    artifacts: list[Path] = typer.Argument(None, help="Artifact files (.conda / .tar.bz2)."),
    spec: list[str] = typer.Option([], "--spec", "-s", help="A MatchSpec to solve (repeatable)."),
    channel: list[str] = typer.Option([], "--channel", help="Channel URL or name (repeatable)."),
    lockfile: Path = typer.Option(None, "--lockfile", help="A rattler/pixi lockfile."),
    environment: str = typer.Option(None, "--environment", help="Lockfile environment."),
    platform: str = typer.Option(None, "--platform", help="Platform (default: this machine's)."),
    name: str = typer.Option("conda-environment", "--name", help="The SBOM's root component."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    scan_db: Path = typer.Option(None, "--scan-db", help="Scan database (default <data>/scan.db)."),
) -> None:
    """Write a CycloneDX 1.6 JSON SBOM of artifacts, a solved environment or a lockfile.

    One component per conda package (conda purl), the Python distributions found inside each
    as nested components (from the scan database, or read from local artifacts)."""
    import rattler

    from stockyard.sbom.cyclonedx_bom import build_bom, render_json
    from stockyard.sbom.packages import (
        lockfile_records,
        package_from_artifact,
        package_from_record,
        solve_environment,
    )
    from stockyard.scan.store import ScanStore, default_scan_db

    ways = sum((bool(artifacts), bool(spec), lockfile is not None))
    if ways != 1 or (spec and not channel):
        raise SbomUsageError("give exactly one of: artifacts, --spec with --channel, --lockfile")
    platform = platform or str(rattler.Subdir.current())
    if artifacts:
        packages = [package_from_artifact(path) for path in artifacts]
    else:
        db = scan_db or default_scan_db(load_cli_settings(config, data).data_path)
        store = ScanStore(db) if db.exists() else None
        try:
            if spec:
                records = solve_environment(spec, channel, platform)
            else:
                records = lockfile_records(lockfile, environment, platform)
            packages = [package_from_record(record, store) for record in records]
        finally:
            if store is not None:
                store.close()
    document = render_json(build_bom(packages, name=name, platform=platform))
    if output is None:
        stdout.out(document, highlight=False)
    else:
        output.write_text(document + "\n")


def register(app: typer.Typer) -> None:
    app.command("sbom")(sbom)
