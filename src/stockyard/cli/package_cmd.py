"""`stockyard package ...`: inspect, transmute, verify and extract conda artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockyard.cli.output import print_json, stdout

if TYPE_CHECKING:
    from stockyard.package import ArtifactMetadata, VerifyReport

app = typer.Typer(
    help="Read, check, convert and unpack conda artifacts (.conda and .tar.bz2); remove, yank "
    "or copy the packages of a served channel.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    from stockyard.cli import package_ops_cmd

    package_ops_cmd.register(app)
    root.add_typer(app, name="package")


def metadata_to_json(meta: ArtifactMetadata) -> dict[str, Any]:
    """ArtifactMetadata as a JSON document: icon and recipe files appear as their sizes."""
    from dataclasses import asdict

    return {
        "filename": meta.filename,
        "format": meta.format,
        "size": meta.size,
        "md5": meta.md5,
        "sha256": meta.sha256,
        "index_json": meta.index_json,
        "about": meta.about,
        "run_exports": meta.run_exports,
        "link": meta.link,
        "path_flags": asdict(meta.path_flags),
        "icon_bytes": len(meta.icon) if meta.icon is not None else None,
        "recipe_bytes": {name: len(data) for name, data in meta.recipe.items()},
    }


def _report_to_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "path": report.path,
        "format": report.format,
        "size": report.size,
        "md5": report.md5,
        "sha256": report.sha256,
        "members": report.members,
        "files_checked": report.files_checked,
        "problems": list(report.problems),
        "ok": report.ok,
    }


@app.command(
    "inspect",
    short_help="Show an artifact's metadata and hashes.",
    help=(
        "Show an artifact's metadata and hashes.\n\n"
        "Reads index.json, about.json, run_exports.json, link.json and paths.json and "
        "hashes the file in one pass, without extracting the payload."
    ),
)
def inspect(
    file: Path = typer.Argument(..., help="The .conda or .tar.bz2 artifact."),
    as_json: bool = typer.Option(False, "--json", help="Print the metadata as one JSON document."),
) -> None:
    from stockyard.package import read_artifact

    meta = read_artifact(file)
    if as_json:
        print_json(metadata_to_json(meta))
        return
    from rich.table import Table

    index = meta.index_json
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("file", meta.filename)
    table.add_row("package", f"{index['name']} {index['version']} {index['build']}")
    table.add_row("subdir", str(index.get("subdir", "")))
    table.add_row("size", f"{meta.size:,} bytes ({meta.format})")
    table.add_row("sha256", meta.sha256)
    table.add_row("md5", meta.md5)
    for key in ("license", "noarch", "timestamp"):
        if index.get(key) is not None:
            table.add_row(key, str(index[key]))
    table.add_row("depends", "\n".join(index.get("depends", [])) or "-")
    if index.get("constrains"):
        table.add_row("constrains", "\n".join(index["constrains"]))
    if meta.about and meta.about.get("summary"):
        table.add_row("summary", str(meta.about["summary"]))
    if meta.run_exports:
        table.add_row(
            "run_exports",
            "\n".join(f"{kind}: {', '.join(specs)}" for kind, specs in meta.run_exports.items()),
        )
    flags = [name for name, value in metadata_to_json(meta)["path_flags"].items() if value]
    table.add_row("flags", ", ".join(flags) or "-")
    if meta.icon is not None:
        table.add_row("icon", f"{len(meta.icon):,} bytes")
    for name, data in meta.recipe.items():
        table.add_row("recipe", f"{name} ({len(data):,} bytes)")
    stdout.print(table, highlight=False)


@app.command(
    "transmute",
    short_help="Convert FILE to .conda or .tar.bz2.",
    help=(
        "Convert FILE to .conda or .tar.bz2.\n\n"
        "Every member is kept as it is: names, bytes, permission bits, symbolic links."
    ),
)
def transmute(
    file: Path = typer.Argument(..., help="The artifact to convert."),
    to: str = typer.Option(..., "--to", help="Target format: conda or tar.bz2."),
    out: Path = typer.Option(
        None, "--out", help="Directory for the result (default: next to FILE)."
    ),
) -> None:
    from stockyard.package import transmute as do_transmute
    from stockyard.types.errors import StockyardError

    if to not in ("conda", "tar.bz2"):
        raise StockyardError(f"unknown format {to!r}", hint="Use --to conda or --to tar.bz2.")
    dest_dir = out if out is not None else file.parent
    dest_dir.mkdir(parents=True, exist_ok=True)
    result = do_transmute(file, dest_dir, to)  # type: ignore[arg-type]
    stdout.print(f"wrote {result}", highlight=False)


@app.command(
    "verify",
    short_help="Check FILE end to end; exit 1 when a problem is found.",
    help=(
        "Check FILE end to end; exit 1 when a problem is found.\n\n"
        "Every member must decompress, the metadata must be valid, payload files must "
        "match the sizes and sha256 in info/paths.json, and (with --sha256) the file's "
        "hash must match."
    ),
)
def verify(
    file: Path = typer.Argument(..., help="The artifact to check."),
    sha256: str = typer.Option(None, "--sha256", help="Expected sha256 of the file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON document."),
) -> None:
    from stockyard.package import verify_artifact

    report = verify_artifact(file, sha256=sha256)
    if as_json:
        print_json(_report_to_json(report))
    elif report.ok:
        stdout.print(
            f"[green]ok[/] {report.path}: {report.members} members, "
            f"{report.files_checked} files checked against paths.json, sha256 {report.sha256}",
            highlight=False,
        )
    else:
        stdout.print(f"[red]{len(report.problems)} problem(s)[/] in {report.path}:")
        for problem in report.problems:
            stdout.print(f"  - {problem}", highlight=False, markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command(
    "extract",
    short_help="Unpack FILE into DEST (new or empty), safely.",
    help=(
        "Unpack FILE into DEST (new or empty), safely.\n\n"
        "Refuses members or links that would leave DEST, devices and fifos, and data "
        "beyond the size limits. On failure nothing is written."
    ),
)
def extract(
    file: Path = typer.Argument(..., help="The artifact to unpack."),
    dest: Path = typer.Argument(..., help="New (or empty) directory to unpack into."),
) -> None:
    from stockyard.package import extract_artifact

    extract_artifact(file, dest)
    stdout.print(f"extracted {file} into {dest}", highlight=False)
