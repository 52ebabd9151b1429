"""`stockyard snapshot create|list|diff|delete|prune` and `stockyard channel patches`: the
history of a served channel, through the same functions as the JSON API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stdout
from stockyard.types.errors import ConfigError

if TYPE_CHECKING:
    from stockyard.catalog import Catalog, Channel
    from stockyard.config import Settings

snapshot_app = typer.Typer(
    help="Immutable views of a served channel, served at <channel URL>/snapshots/<id>/.",
    no_args_is_help=True,
)
_DATA = typer.Option(None, "--data", "-d", help=DATA_HELP)
_CONFIG = typer.Option(None, "--config", "-c", help=CONFIG_HELP)
_JSON = typer.Option(False, "--json", help="Print JSON.")


@contextmanager
def _channel(
    config: Path | None, data: Path | None, name: str
) -> Iterator[tuple[Settings, Catalog, Channel]]:
    from stockyard.server.channels import open_catalog

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        yield settings, catalog, catalog.require_channel(name)
    finally:
        catalog.close()


def _layout(settings: Settings) -> Any:
    from stockyard.server.channels import layout_for

    return layout_for(settings)


def _snapshot_dict(settings: Settings, channel: str, row: Any) -> dict[str, Any]:
    from stockyard.server.channels import server_url
    from stockyard.snapshots import SNAPSHOTS_DIR

    return {
        "id": row.id,
        "url": f"{server_url(settings)}/{channel}/{SNAPSHOTS_DIR}/{row.id}",
        "created_at": row.created_at,
        "patch_set_version": row.patch_set_version,
        "subdirs": row.subdirs,
        "record_count": row.record_count,
        "description": row.description,
    }


@snapshot_app.command("create")
def snapshot_create(
    channel: str = typer.Argument(..., help="The channel."),
    description: str = typer.Option(None, "--description", help="A note kept with it."),
    keep: int = typer.Option(None, "--keep", min=1, help="Then delete all but the newest N."),
    data: Path = _DATA,
    config: Path = _CONFIG,
    as_json: bool = _JSON,
) -> None:
    """Snapshot what the channel serves now (records, removed, patches in force, artifacts)."""
    from stockyard.snapshots import create_snapshot, prune

    with _channel(config, data, channel) as (settings, catalog, found):
        layout = _layout(settings)
        workspace, store = layout.workspace(found.name), layout.store(found.name)
        row = create_snapshot(
            catalog,
            found,
            workspace,
            store=store,
            by="cli",
            description=description,
            lock_timeout=settings.lock_timeout,
        )
        pruned = prune(catalog, found, workspace, keep, store=store) if keep else []
        out = {**_snapshot_dict(settings, found.name, row), "pruned": pruned}
    if as_json:
        print_json(out)
    else:
        stdout.print(
            f"snapshot {row.id}: {row.record_count} records at {out['url']}", highlight=False
        )


@snapshot_app.command("list")
def snapshot_list(
    channel: str = typer.Argument(..., help="The channel."),
    data: Path = _DATA,
    config: Path = _CONFIG,
    as_json: bool = _JSON,
) -> None:
    """List the channel's snapshots, newest first."""
    with _channel(config, data, channel) as (settings, catalog, found):
        rows = [_snapshot_dict(settings, found.name, r) for r in catalog.snapshots(found.id)]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        stdout.print(
            f"{row['id']}  {row['record_count']:>8} records  {row['url']}", highlight=False
        )


@snapshot_app.command("diff")
def snapshot_diff(
    channel: str = typer.Argument(..., help="The channel."),
    before: str = typer.Argument(..., help="A snapshot id."),
    after: str = typer.Argument("live", help="Another snapshot id, or live."),
    data: Path = _DATA,
    config: Path = _CONFIG,
    as_json: bool = _JSON,
) -> None:
    """Records added, removed and patched from BEFORE to AFTER."""
    from stockyard.snapshots import diff_views, snapshot_store

    with _channel(config, data, channel) as (settings, catalog, found):
        store = _layout(settings).store(found.name)
        views = []
        for view in (before, after):
            if view != "live":
                catalog.snapshot(found.id, view)  # NotFound for an unknown id
            views.append(store if view == "live" else snapshot_store(store, view))
        diffs = [d.to_dict() for d in diff_views(views[0], views[1])]
    if as_json:
        print_json(diffs)
        return
    for d in diffs:
        stdout.print(
            f"{d['subdir']}: +{len(d['added'])} -{len(d['removed'])} ~{len(d['changed'])}",
            highlight=False,
        )


@snapshot_app.command("delete")
def snapshot_delete(
    channel: str = typer.Argument(..., help="The channel."),
    snapshot_id: str = typer.Argument(..., help="The snapshot id."),
    data: Path = _DATA,
    config: Path = _CONFIG,
) -> None:
    """Delete a snapshot (its URL stops working; artifacts only it kept are freed)."""
    from stockyard.snapshots import delete_snapshot

    with _channel(config, data, channel) as (settings, catalog, found):
        layout = _layout(settings)
        workspace, store = layout.workspace(found.name), layout.store(found.name)
        delete_snapshot(catalog, found, workspace, snapshot_id, store=store)
    stdout.print(f"deleted snapshot {snapshot_id}", highlight=False)


@snapshot_app.command("schedule")
def snapshot_schedule(
    channel: str = typer.Argument(..., help="The channel."),
    every: str = typer.Option(None, "--every", help="How often: 12h, 1d, 1w (at least 1m)."),
    keep: int = typer.Option(None, "--keep", min=1, help="Keep the newest N (default: all)."),
    off: bool = typer.Option(False, "--off", help="Stop taking scheduled snapshots."),
    data: Path = _DATA,
    config: Path = _CONFIG,
) -> None:
    """Show or set the channel's snapshot schedule; `stockyard serve` takes them (checked every
    minute)."""
    import msgspec

    from stockyard.config.settings import parse_duration
    from stockyard.types.policy import SnapshotSchedule

    with _channel(config, data, channel) as (_settings, catalog, found):
        stored = catalog.channel_policy(found.id)
        if off or every or keep:
            schedule = None
            if not off:
                seconds = int(parse_duration(every)) if every else 86400
                try:
                    schedule = msgspec.convert(
                        {"every_seconds": seconds, "keep": keep}, SnapshotSchedule
                    )
                except msgspec.ValidationError as exc:
                    raise ConfigError(
                        f"invalid schedule: {exc}", hint="Use --every 1m or more, e.g. 1d."
                    ) from None
            catalog.set_channel_policy(
                found.id, msgspec.structs.replace(stored, snapshots=schedule)
            )
        shown = catalog.channel_policy(found.id).snapshots
    print_json(msgspec.to_builtins(shown) if shown else None)


def patches(
    channel: str = typer.Argument(..., help="The channel."),
    path: Path = typer.Argument(
        None,
        help="A patch YAML file or folder, or patch_instructions JSON: stored and put in force.",
    ),
    activate: int = typer.Option(None, "--activate", min=1, help="Put version N in force."),
    off: bool = typer.Option(False, "--off", help="Publish without a stored patch set."),
    data: Path = _DATA,
    config: Path = _CONFIG,
    as_json: bool = _JSON,
) -> None:
    """Store and publish a new patch-set version, roll back to one, or list them (no options)."""
    from stockyard.patchsets import PatchSetContent, activate_patch_set, store_patch_set
    from stockyard.server.channels import republish_with_labels

    if sum(x is not None and x is not False for x in (path, activate, off or None)) > 1:
        raise ConfigError("give one of PATH, --activate and --off", hint="Run them one by one.")
    with _channel(config, data, channel) as (settings, catalog, found):
        republish: Callable[[], None] = lambda: republish_with_labels(settings, catalog, found.name)  # noqa: E731
        version: int | None = activate
        if path is not None:
            content = PatchSetContent(_read_patch_set(path), by="cli")
            workspace = _layout(settings).workspace(found.name)
            version = store_patch_set(catalog, found, workspace, content).version
        if version is not None or off:
            activate_patch_set(catalog, found, version, republish)
        rows = catalog.patch_sets(found.id)
    _print_patch_sets(rows, version, as_json)


def _read_patch_set(path: Path) -> bytes:
    """A file as it is; a folder as a tar of its YAML files."""
    import io
    import tarfile

    if not path.exists():
        raise ConfigError(
            f"{path} does not exist", hint="Give a .yaml file, a folder or a .json file."
        )
    if path.is_file():
        return path.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file() and file.suffix in (".yaml", ".yml"):
                archive.add(file, arcname=str(file.relative_to(path)))
    return buffer.getvalue()


def _print_patch_sets(rows: list[Any], version: int | None, as_json: bool) -> None:
    listed = [
        {
            "version": r.version,
            "kind": r.kind,
            "sha256": r.sha256,
            "created_at": r.created_at,
            "created_by": r.created_by,
            "active": r.active,
        }
        for r in rows
    ]
    if as_json:
        chosen = next((row for row in listed if row["version"] == version), None)
        print_json(chosen if version is not None else listed)
        return
    for row in listed:
        mark = "*" if row["active"] else " "
        stdout.print(
            f"{mark} v{row['version']}  {row['kind']:<12} {row['sha256'][:12]}", highlight=False
        )


def register(app: typer.Typer) -> None:
    app.add_typer(snapshot_app, name="snapshot")


def register_channel(app: typer.Typer) -> None:
    app.command("patches")(patches)
