"""`stockyard mirror UPSTREAM TARGET`: a filtered, verified, resumable mirror of a channel."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stockyard.cli.data_dir import CONFIG_HELP
from stockyard.cli.output import print_json, stderr, stdout

if TYPE_CHECKING:
    from stockyard.mirror.download import DownloadProgress
    from stockyard.mirror.filters import MirrorFilters
    from stockyard.mirror.options import MirrorOptions
    from stockyard.mirror.result import MirrorResult
    from stockyard.mirror.target import MirrorTarget

_FILTERS = "Filters (docs/howto-mirror.md)"


def _opt(*names: str, help: str, filters: bool = False, **kw: Any) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=_FILTERS if filters else None, **kw)


Upstream = Annotated[
    str,
    typer.Argument(
        help="The upstream channel: https://host/channel (or /t/TOKEN/...) or a folder."
    ),
]
Target = Annotated[
    Path | None, typer.Argument(help="The channel folder to mirror into (created when missing).")
]
ServerChannel = Annotated[
    str | None, _opt("--server-channel", help="Mirror into this channel of `stockyard serve`.")
]
DataDir = Annotated[
    Path | None, _opt("--data-dir", "--data", "-d", help="The server's data directory.")
]
Config = Annotated[Path | None, _opt("--config", "-c", help=CONFIG_HELP)]
Subdirs = Annotated[
    list[str] | None, _opt("--subdir", "-s", help="Only these subdirs (repeatable).", filters=True)
]
Include = Annotated[
    list[str] | None,
    _opt("--include", filters=True, help="Only records matching this MatchSpec (repeatable; "
         "globs allowed in the name: 'py*')."),
]  # fmt: skip
Exclude = Annotated[
    list[str] | None,
    _opt("--exclude", filters=True, help="Never records matching this MatchSpec (repeatable; "
         "wins over everything)."),
]  # fmt: skip
WithDependencies = Annotated[
    bool, _opt("--with-dependencies", filters=True, help="Add the dependency closure.")
]
Latest = Annotated[
    int | None,
    _opt("--latest", min=1, filters=True, help="Keep the N newest versions of each name."),
]
NewerThan = Annotated[
    str | None,
    _opt("--newer-than", filters=True, help="Only records built on or after DATE (2024-01-31 "
         "or ISO time; UTC unless given)."),
]  # fmt: skip
OlderThan = Annotated[
    str | None, _opt("--older-than", filters=True, help="Only records built before DATE.")
]
LicenseAllow = Annotated[
    list[str] | None,
    _opt("--license-allow", filters=True, help="Only licenses matching this SPDX id or glob "
         "(repeatable, e.g. 'MIT', 'BSD-*')."),
]  # fmt: skip
LicenseDeny = Annotated[
    list[str] | None,
    _opt("--license-deny", filters=True, help="Never licenses matching this SPDX id or glob "
         "(repeatable, e.g. 'GPL-3.0*')."),
]  # fmt: skip
LicenseUnknown = Annotated[
    str,
    _opt("--license-unknown", filters=True, help="allow|deny records whose license is not a "
         "readable SPDX expression."),
]  # fmt: skip
Unpatched = Annotated[
    bool, _opt("--unpatched", help="Mirror repodata_from_packages.json; the target's own "
               "patch source applies.")
]  # fmt: skip
DryRun = Annotated[bool, _opt("--dry-run", help="Print the plan; change nothing.")]
Explain = Annotated[
    str | None, _opt("--explain", help="Say why FILENAME (or SUBDIR/FILENAME) is in or out.")
]
Jobs = Annotated[int, _opt("--jobs", "-j", min=1, max=64, help="Parallel downloads.")]
Retries = Annotated[int, _opt("--retries", min=0, help="Retries per request.")]
Timeout = Annotated[float, _opt("--timeout", help="Seconds without a byte before failing.")]
LockTimeout = Annotated[
    float, _opt("--lock-timeout", help="Seconds to wait for another writer of the target.")
]
AsJson = Annotated[bool, _opt("--json", help="Print the summary as JSON.")]


def mirror(
    upstream: Upstream,
    target: Target = None,
    server_channel: ServerChannel = None,
    data: DataDir = None,
    config: Config = None,
    subdir: Subdirs = None,
    include: Include = None,
    exclude: Exclude = None,
    with_dependencies: WithDependencies = False,
    latest: Latest = None,
    newer_than: NewerThan = None,
    older_than: OlderThan = None,
    license_allow: LicenseAllow = None,
    license_deny: LicenseDeny = None,
    license_unknown: LicenseUnknown = "allow",
    unpatched: Unpatched = False,
    dry_run: DryRun = False,
    explain: Explain = None,
    jobs: Jobs = 4,
    retries: Retries = 4,
    timeout: Timeout = 60.0,
    lock_timeout: LockTimeout = 600.0,
    as_json: AsJson = False,
) -> None:
    """Mirror a conda channel (UPSTREAM) into a channel directory or served channel (TARGET).

    Reads upstream's repodata (CEP 16 shards when it has them), selects records with the
    filters, downloads in parallel, verifies every artifact (sha256, size and everything an
    upload is checked for), and publishes exactly as `stockyard index` does.

    By default the published records are upstream's patched ones (its patches become the
    target's patch source). Interrupted runs resume without downloading finished files again;
    a failed run publishes nothing. A run that finds upstream unchanged (304s or the same
    bytes) and the target as the last run left it ends at once and says it is up to date.
    Filter precedence: --subdir, then --exclude, dates and license policy (hard), then
    --include, --latest, --with-dependencies.
    """
    # Only light modules until the target is opened: a run that finds upstream and a channel
    # folder as the last run left them ends before SQLAlchemy and the index are imported.
    from stockyard.mirror.fetch import FetchSettings
    from stockyard.mirror.options import MirrorOptions

    filters = _filters(
        subdir, include, exclude, with_dependencies, latest, newer_than, older_than,
        license_allow, license_deny, license_unknown,
    )  # fmt: skip
    filters.compile()  # a bad spec or license id fails before the target is opened
    options = MirrorOptions(
        filters=filters, unpatched=unpatched, dry_run=dry_run, explain=explain, jobs=jobs,
        fetch=FetchSettings(retries=retries, read_timeout=timeout), lock_timeout=lock_timeout,
    )  # fmt: skip
    if target is not None and server_channel is None and not options.planning:
        from dataclasses import replace

        from stockyard.mirror.last_run import check_directory

        unchanged = check_directory(upstream, target, options)
        if unchanged is not None:
            _report(unchanged, as_json)
            return
        options = replace(options, skip_if_unchanged=False)  # checked just now
    opened = _open_target(target, server_channel, data, config, options.planning)
    _run(upstream, opened, options, as_json)


def _run(upstream: str, opened: MirrorTarget, options: MirrorOptions, as_json: bool) -> None:
    from stockyard.mirror.run import mirror_channel

    try:
        progress = _progress_bar() if sys.stderr.isatty() and not as_json else None
        if progress is not None:
            with progress.bar:
                result = mirror_channel(upstream, opened, options, progress)
        else:
            result = mirror_channel(upstream, opened, options)
    finally:
        opened.close()
    _report(result, as_json)


def _report(result: MirrorResult, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
    else:
        _print_summary(result)


def _filters(
    subdir: list[str] | None,
    include: list[str] | None,
    exclude: list[str] | None,
    with_dependencies: bool,
    latest: int | None,
    newer_than: str | None,
    older_than: str | None,
    license_allow: list[str] | None,
    license_deny: list[str] | None,
    license_unknown: str,
) -> MirrorFilters:
    from stockyard.mirror.filters import MirrorFilters
    from stockyard.mirror.license_policy import LicensePolicy

    return MirrorFilters(
        subdirs=tuple(subdir or ()),
        include=tuple(include or ()),
        exclude=tuple(exclude or ()),
        with_dependencies=with_dependencies,
        latest=latest,
        newer_than=parse_date(newer_than, "--newer-than"),
        older_than=parse_date(older_than, "--older-than"),
        licenses=LicensePolicy.build(license_allow or (), license_deny or (), license_unknown),
    )


def parse_date(text: str | None, option: str) -> datetime | None:
    """A date or ISO time; UTC when it names no zone."""
    from stockyard.mirror.errors import FilterError

    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(
            f"{option} {text!r} is not a date",
            hint="Use 2024-01-31, or an ISO time such as 2024-01-31T12:00:00+00:00.",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _open_target(
    target: Path | None,
    server_channel: str | None,
    data: Path | None,
    config: Path | None,
    dry_run: bool,
) -> MirrorTarget:
    from stockyard.types.errors import ConfigError

    if (target is None) == (server_channel is None):
        raise ConfigError(
            "give either TARGET (a channel folder) or --server-channel NAME, not both or neither",
            hint="stockyard mirror URL ./mirror, or stockyard mirror URL --server-channel main "
            "--data-dir ./stockyard-data",
        )
    if target is not None:
        from stockyard.mirror.target import open_directory_target

        return open_directory_target(target, dry_run=dry_run)
    assert server_channel is not None
    return _open_server_channel(server_channel, data, config)


def _open_server_channel(name: str, data: Path | None, config: Path | None) -> MirrorTarget:
    """A channel of `stockyard serve`: committed through the same path as its uploads, so a
    running server sees the result at once."""
    from stockyard.cli.data_dir import load_cli_settings
    from stockyard.mirror.target import MirrorTarget
    from stockyard.server.channels import channel_handle, open_catalog

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        return MirrorTarget(catalog, channel_handle(settings, catalog, name))
    except BaseException:
        catalog.close()
        raise


class _RichProgress:
    """Files, bytes and rate of the downloads, on stderr."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]}"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
        )
        self.task = self.bar.add_task("download", total=None, files="0/0 files", visible=False)
        self.files = self.done = 0

    def start(self, files: int, total_bytes: int) -> None:
        self.files = files
        self.bar.update(self.task, total=total_bytes, files=f"0/{files} files", visible=True)

    def advance(self, count: int) -> None:
        self.bar.advance(self.task, count)

    def file_done(self) -> None:
        self.done += 1
        self.bar.update(self.task, files=f"{self.done}/{self.files} files")


def _progress_bar() -> _RichProgress:
    return _RichProgress()


def _print_summary(result: MirrorResult) -> None:
    from rich.markup import escape

    for item in result.explain:
        verdict = "[green]in[/] " if item.included else "[red]out[/]"
        stdout.print(f"{verdict} {escape(item.key)}: {escape(item.reason)}", highlight=False)
    if result.explain or (result.dry_run and not result.plan):
        return
    for key, reason in result.refused:
        stderr.print(f"[yellow]refused[/] {escape(key)}: {escape(reason)}", highlight=False)
    for missing in result.unsatisfied:
        stderr.print(
            f"[yellow]unsatisfied[/] {escape(missing['spec'])} (needed by "
            f"{escape(missing['needed_by'])})",
            highlight=False,
        )
    if result.dry_run:
        for key in result.plan.get("added", []):
            stdout.print(f"+ {escape(key)}", highlight=False)
        for key in result.plan.get("removed", []):
            stdout.print(f"- {escape(key)}", highlight=False)
    if result.up_to_date:
        stdout.print(
            f"{escape(result.target)} is up to date with {escape(result.upstream)} (upstream "
            f"unchanged, target as the last run left it): {result.selected} selected, "
            f"{result.unchanged} held, {len(result.refused)} refused; nothing written in "
            f"{result.seconds:.2f}s",
            highlight=False,
        )
        return
    verb = "would mirror" if result.dry_run else "mirrored"
    stdout.print(
        f"{verb} {escape(result.upstream)} into {escape(result.target)}: {result.selected} "
        f"selected, {result.added} added ({_size(result.bytes)}), {result.removed} removed, "
        f"{result.unchanged} unchanged, {len(result.refused)} refused"
        + ("" if result.dry_run else f"; {result.files_written} files written")
        + f" in {result.seconds:.2f}s",
        highlight=False,
    )


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{count} B"


def register(app: typer.Typer) -> None:
    app.command("mirror")(mirror)


if TYPE_CHECKING:
    _check: DownloadProgress = _RichProgress()
