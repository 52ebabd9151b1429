"""`stockyard index CHANNEL_DIR`: index a channel directory in place."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockyard.cli import output
from stockyard.types.encoding import DEFAULT_ZSTD_LEVEL

if TYPE_CHECKING:
    from stockyard.index.run import IndexOptions, IndexResult


def index(
    channel_dir: Path = typer.Argument(
        ..., help="The channel folder: it holds noarch/ and one folder per platform subdir."
    ),
    subdir: list[str] = typer.Option(
        None, "--subdir", "-s", help="Only index these subdirs (repeatable). Default: all."
    ),
    shards: bool = typer.Option(
        None, "--shards/--no-shards", help="Write CEP 16 sharded repodata (default: on)."
    ),
    zst_level: int = typer.Option(
        None,
        "--zst-level",
        min=1,
        max=22,
        help=f"zstd level of repodata.json.zst and shards (default {DEFAULT_ZSTD_LEVEL}; "
        "16-19: smaller, slower).",
    ),
    bz2: bool = typer.Option(None, "--bz2/--no-bz2", help="Also write repodata.json.bz2."),
    current_repodata: bool = typer.Option(
        None,
        "--current-repodata/--no-current-repodata",
        help="Also write current_repodata.json (conda-index's).",
    ),
    patch_generator: str = typer.Option(
        None,
        "--patch-generator",
        help=(
            "Repodata patches: a patch_instructions.json, a patch package (file, or the name of a "
            "package in the channel's noarch/), or a .py file defining "
            "_patch_repodata(repodata, subdir). Stored with the channel; '' removes it."
        ),
    ),
    base_url: str = typer.Option(
        None,
        "--base-url",
        help="Where packages are downloaded from (CEP 15): an absolute URL, or a path relative "
        "to the channel (./, ../mirror, /path); sets info.base_url and repodata_version 2.",
    ),
    db_url: str = typer.Option(
        None,
        "--db-url",
        help="Catalog database URL (postgresql://...). Default: SQLite in "
        "CHANNEL_DIR/.stockyard/catalog.db.",
    ),
    workers: int = typer.Option(0, "--workers", "-j", help="Reader processes (0: one per CPU)."),
    lock_timeout: float = typer.Option(
        600, "--lock-timeout", help="Seconds to wait for another indexer of this channel."
    ),
    html: bool = typer.Option(
        None, "--html/--no-html", help="Write index.html listings (default: on)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Index a channel: read new and changed artifacts, update the catalog, publish repodata.

    Artifacts whose metadata cannot be published (see docs/specs/repodata.md, Admission) are
    skipped with the reason; legacy metadata (a boolean noarch, an upper-case version, a
    timestamp in seconds...) is published as the package says and reported as a warning
    (`--json`: a `warnings` list per file, each with its JSON pointer and message).

    Writes, per subdir: repodata.json (+ .zst), repodata_from_packages.json, the shard index and
    shards, run_exports.json, patch_instructions.json, index.html; at the root: channeldata.json
    and index.html. Only what changed is read and rewritten.

    The publishing flags and --patch-generator are stored as the channel's policy: uploads to a
    served channel and later runs use them. When any publishing flag is given, the flags not
    given take their defaults; with none, the stored policy stays.
    """
    import os

    from stockyard.index.run import IndexOptions, index_channel
    from stockyard.types.policy import PublishOptions, check_base_url

    if base_url:
        check_base_url(base_url)
    flags: dict[str, Any] = {
        "shards": shards,
        "zst_level": zst_level,
        "bz2": bz2,
        "current_repodata": current_repodata,
        "base_url": base_url,
        "html": html,
    }
    given = {key: value for key, value in flags.items() if value is not None}
    options = IndexOptions(
        subdirs=tuple(subdir) if subdir else None,
        publish=PublishOptions(**given) if given else None,
        patch_source=patch_generator,
        db_url=db_url,
        workers=workers or max(1, os.cpu_count() or 1),
        lock_timeout=lock_timeout,
    )
    if sys.stderr.isatty() and not as_json:
        result = _index_with_progress(channel_dir, options)
    else:
        result = index_channel(channel_dir, options)
    if as_json:
        output.print_json(result.to_dict())
    else:
        _print_problems(result)
        warned = f", {len(result.warnings)} with warnings" if result.warnings else ""
        output.stdout.print(
            f"indexed {result.channel}: {result.added} added, {result.changed} changed, "
            f"{result.removed} removed, {result.unchanged} unchanged, "
            f"{len(result.skipped)} skipped{warned}; {result.files_written} files written "
            f"in {result.seconds:.2f}s",
            highlight=False,
        )


def _print_problems(result: IndexResult) -> None:
    """Skipped artifacts (refused by reading or admission), then the warnings of the indexed
    ones (legacy metadata, published as it is)."""
    from rich.markup import escape

    for skipped in result.skipped:
        output.stderr.print(
            f"[yellow]skipped[/] {escape(skipped.path)}: {escape(skipped.reason)}",
            highlight=False,
        )
    for file in result.warnings:
        for warning in file.warnings:
            output.stderr.print(
                f"[yellow]warning[/] {escape(file.path)}: {escape(warning.pointer or '(root)')}: "
                f"{escape(warning.message)}",
                highlight=False,
            )


def _index_with_progress(channel_dir: Path, options: IndexOptions) -> IndexResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn

    from stockyard.index.run import index_channel

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=output.stderr,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, completed: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=completed, total=total)

        return index_channel(channel_dir, options, progress)


def register(app: typer.Typer) -> None:
    app.command("index")(index)
