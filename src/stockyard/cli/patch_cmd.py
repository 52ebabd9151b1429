"""`stockyard patch instructions|diff`: work with repodata patch sources before publishing.

- `instructions` turns any patch source (patch YAML, a Python generator, JSON instructions, a
  patch package) into the complete `patch_instructions.json` for one subdir's repodata, which
  is what conda-forge's generator ships.
- `diff` shows what a patch source would change in an indexed channel directory, record by
  record, against what the channel publishes now. It only reads files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockyard.cli.output import print_json, stdout

if TYPE_CHECKING:
    from stockyard.patches.diff import NameSummary, RecordDiff

patch_app = typer.Typer(
    help="Generate patch instructions and preview what a patch source changes.",
    no_args_is_help=True,
)

_GENERATOR_HELP = (
    "The patch source: a patch YAML file or directory (conda-forge's if/then format), a Python "
    "file defining _patch_repodata(repodata, subdir), a patch_instructions.json (or a directory "
    "of <subdir>/patch_instructions.json), or a patch package."
)
_MAX_REPODATA_BYTES = 1 << 32


def _read_document(path: Path) -> Any:
    """A JSON document, zstd-compressed when its name ends in `.zst`."""
    from stockyard.types.encoding import zstd_decompress
    from stockyard.types.errors import InvalidMetadata

    raw = path.read_bytes()
    if path.name.endswith(".zst"):
        raw = zstd_decompress(raw, _MAX_REPODATA_BYTES)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidMetadata(
            f"{path} is not valid JSON: {exc}", hint="Pass repodata JSON."
        ) from exc


def _as_repodata(document: Any, path: Path) -> dict[str, Any]:
    """A repodata document; a bare {filename: record} map is split by extension."""
    from stockyard.types.errors import InvalidMetadata

    if not isinstance(document, dict):
        raise InvalidMetadata(f"{path}: repodata must be a JSON object", hint="Pass repodata JSON.")
    if "packages" in document or "packages.conda" in document or "info" in document:
        return document
    repodata: dict[str, Any] = {"packages": {}, "packages.conda": {}}
    for filename, record in document.items():
        if isinstance(record, dict) and filename.endswith((".tar.bz2", ".conda")):
            section = "packages.conda" if filename.endswith(".conda") else "packages"
            repodata[section][filename] = record
    return repodata


def _instructions(source: Any, subdir: str, repodata: dict[str, Any], origin: str) -> Any:
    from stockyard.patches.apply import validate_instructions
    from stockyard.patches.instructions_gen import complete_instructions

    instructions = complete_instructions(source.instructions_for(subdir, repodata) or {})
    validate_instructions(instructions, origin=origin)
    return instructions


@patch_app.command("instructions")
def instructions(
    repodata: Path = typer.Option(
        ...,
        "--repodata",
        exists=True,
        dir_okay=False,
        help="The subdir's unpatched repodata (repodata_from_packages.json; .json or .json.zst; "
        "a bare {filename: record} map works too).",
    ),
    subdir: str = typer.Option(..., "--subdir", help="The subdir the repodata is for."),
    patch_generator: str = typer.Option(..., "--patch-generator", help=_GENERATOR_HELP),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write patch_instructions.json here instead of stdout."
    ),
) -> None:
    """Write the complete patch_instructions.json a patch source gives for one subdir.

    For patch YAML and Python generators the instructions are computed from the repodata and
    hold, per record, only the keys that change; applied with conda-index semantics they give
    exactly the records the patch source describes. Other sources are passed through with the
    keys they leave out filled in.
    """
    from stockyard.patches.sources import load_patch_source

    source = load_patch_source(patch_generator)
    data = _as_repodata(_read_document(repodata), repodata)
    result = _instructions(source, subdir, data, f"patch instructions for {subdir} ({source})")
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    changed = len(result["packages"]) + len(result["packages.conda"])
    stdout.print(f"wrote {output}: {changed} records patched", highlight=False)


def _channel_subdirs(channel_dir: Path, only: list[str] | None) -> list[Path]:
    from stockyard.types.errors import ConfigError
    from stockyard.types.repodata import REPODATA_FROM_PACKAGES

    if not channel_dir.is_dir():
        raise ConfigError(f"{channel_dir} is not a directory", hint="Pass an indexed channel.")
    found = sorted(
        child
        for child in channel_dir.iterdir()
        if (child / REPODATA_FROM_PACKAGES).is_file() and (not only or child.name in only)
    )
    if not found:
        raise ConfigError(
            f"no subdir of {channel_dir} has a {REPODATA_FROM_PACKAGES}"
            + (f" (among {', '.join(only)})" if only else ""),
            hint="Index the channel first: stockyard index CHANNEL_DIR.",
        )
    return found


def _published(subdir_dir: Path, unpatched: dict[str, Any]) -> dict[str, Any]:
    """What the channel publishes now (repodata.json, or its .zst), else the unpatched data."""
    from stockyard.types.repodata import REPODATA_JSON

    for name in (REPODATA_JSON, REPODATA_JSON + ".zst"):
        if (subdir_dir / name).is_file():
            published: dict[str, Any] = _read_document(subdir_dir / name)
            return published
    return unpatched


def _diff_subdir(source: Any, subdir_dir: Path) -> list[RecordDiff]:
    from stockyard.patches.apply import apply_patch_instructions
    from stockyard.patches.diff import diff_records, records_of
    from stockyard.types.repodata import REPODATA_FROM_PACKAGES

    subdir = subdir_dir.name
    unpatched = _as_repodata(_read_document(subdir_dir / REPODATA_FROM_PACKAGES), subdir_dir)
    new = _instructions(source, subdir, unpatched, f"patch instructions for {subdir} ({source})")
    after = records_of(apply_patch_instructions(unpatched, new))
    return diff_records(records_of(_published(subdir_dir, unpatched)), after, subdir)


def _show(value: Any) -> str:
    from stockyard.patches.diff import ABSENT

    return "(absent)" if value is ABSENT else json.dumps(value, sort_keys=True)


def _print_diffs(diffs: list[RecordDiff], summary: dict[str, NameSummary]) -> None:
    for diff in diffs:
        typer.echo(f"{diff.subdir}/{diff.filename}: {diff.status}")
        for key in diff.keys:
            typer.echo(f"  {key.key}: {_show(key.before)} -> {_show(key.after)}")
    if not diffs:
        typer.echo("no record changes")
        return
    typer.echo("")
    typer.echo("by package name (changed / removed / added records; keys):")
    for name, entry in summary.items():
        keys = ", ".join(sorted(entry.keys)) or "-"
        typer.echo(f"  {name}: {entry.changed} / {entry.removed} / {entry.added}; {keys}")
    subdirs = len({diff.subdir for diff in diffs})
    typer.echo(f"{len(diffs)} records in {subdirs} subdirs, {len(summary)} package names")


@patch_app.command("diff")
def diff(
    channel_dir: Path = typer.Argument(..., help="An indexed channel directory."),
    patch_generator: str = typer.Option(..., "--patch-generator", help=_GENERATOR_HELP),
    subdirs: list[str] = typer.Option(
        None, "--subdir", help="Only this subdir (repeat for more); default: every subdir."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show what a patch source would change in a channel, before anything is published.

    For each subdir, the published repodata.json (the records as patched now) is compared with
    repodata_from_packages.json patched by the new source: every record that would change, with
    each key's value before and after, and a summary per package name. Nothing is written.
    """
    from stockyard.patches.diff import summarize
    from stockyard.patches.sources import load_patch_source

    source = load_patch_source(patch_generator, channel_dir=channel_dir)
    diffs = [
        record
        for subdir_dir in _channel_subdirs(channel_dir, subdirs)
        for record in _diff_subdir(source, subdir_dir)
    ]
    summary = summarize(diffs)
    if as_json:
        print_json(
            {
                "records": [record.to_json() for record in diffs],
                "summary": {name: entry.to_json() for name, entry in summary.items()},
            }
        )
        return
    _print_diffs(diffs, summary)


def register(app: typer.Typer) -> None:
    app.add_typer(patch_app, name="patch")
