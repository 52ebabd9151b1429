"""Where a mirror writes: a channel directory (published exactly as `stockyard index` publishes
it: the same catalog at `<dir>/.stockyard/catalog.db`, the same channel name), or a channel of
`stockyard serve` (its handle is opened by the CLI, which knows the server's data directory)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index.manage import ChannelHandle
from stockyard.index.run import catalog_channel_name
from stockyard.index.workspace import STATE_DIR, ChannelWorkspace
from stockyard.mirror import last_run
from stockyard.storage import LocalStore
from stockyard.types.errors import ConfigError, NotFound
from stockyard.types.identifiers import SUBDIR_PATTERN, artifact_format
from stockyard.types.repodata import CHANNELDATA_JSON

_SUBDIR = re.compile(SUBDIR_PATTERN)
_HINT = "Pass an empty or new folder, or a channel folder (one holding noarch/, linux-64/...)."


@dataclass(slots=True)
class MirrorTarget:
    catalog: Catalog
    handle: ChannelHandle
    #: Whether closing the target closes the catalog (the CLI owns a server's catalog).
    owns_catalog: bool = True
    #: What messages call the target (a dry run of a missing folder plans in a temp folder).
    shown_as: str | None = None
    #: The channel folder's own SQLite catalog files, stamped after closing (`last_run`).
    catalog_files: tuple[Path, ...] = ()
    #: Set by a run that published: its `last_run.json` gets the catalog stamps at close.
    last_run_id: str | None = None
    _scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def mirror_dir(self) -> Path:
        """The mirror's working area: never scanned, served or published."""
        return self.handle.workspace.state_dir / "mirror"

    @property
    def description(self) -> str:
        return self.shown_as or str(self.handle.workspace.directory)

    def view(self) -> last_run.TargetView:
        """The target as `last_run` checks it; with the catalog open, it is asked for what an
        interrupted commit left."""
        return last_run.TargetView(
            self.handle.store, self.mirror_dir, self.description, owes_repair=self.owes_repair
        )

    def owes_repair(self) -> bool:
        """Whether the channel owes a publish or a move (an interrupted commit of any writer)."""
        catalog, channel_id = self.catalog, self.handle.channel.id
        return (
            any(state.dirty for state in catalog.subdir_states(channel_id).values())
            or catalog.channel_files_dirty(channel_id)
            or bool(catalog.pending_moves(channel_id))
        )

    def close(self) -> None:
        if self.owns_catalog:
            self.catalog.close()
            if self.catalog_files and self.last_run_id is not None:
                last_run.stamp_catalog(self.mirror_dir, self.last_run_id, self.catalog_files)
        if self._scratch is not None:
            self._scratch.cleanup()


def open_directory_target(
    path: Path, *, db_url: str | None = None, dry_run: bool = False
) -> MirrorTarget:
    """The channel directory `path` (created when missing), with its catalog. A dry run never
    creates it: it plans against an empty channel in a temporary folder."""
    check_target_directory(path)
    if dry_run and not path.exists():
        scratch = tempfile.TemporaryDirectory(prefix="stockyard-mirror-plan-")
        target = open_directory_target(Path(scratch.name) / "channel")
        target.shown_as, target._scratch = str(path), scratch
        return target
    path.mkdir(exist_ok=True)
    workspace = ChannelWorkspace(path)
    workspace.state_dir.mkdir(exist_ok=True)
    own = last_run.catalog_files(workspace.state_dir) if db_url is None else ()
    catalog = Catalog.open(db_url or sqlite_url(workspace.state_dir / "catalog.db"))
    try:
        channel = catalog.ensure_channel(catalog_channel_name(path.resolve().name or "channel"))
    except BaseException:
        catalog.close()
        raise
    handle = ChannelHandle(channel, LocalStore(path), workspace)
    return MirrorTarget(catalog, handle, catalog_files=own)


def check_target_directory(path: Path) -> None:
    """A mirror writes only into a folder that is (or can become) a channel: refuse a file, a
    subdir of a channel, and a folder holding other things (a home directory, a project)."""
    if path.is_file():
        raise ConfigError(f"{str(path)!r} is a file, not a channel directory", hint=_HINT)
    if not path.exists():
        if not path.parent.is_dir():
            raise NotFound(f"the parent of {str(path)!r} does not exist", hint=_HINT)
        return
    entries = list(path.iterdir())
    if any(e.is_file() and artifact_format(e.name) for e in entries) and _SUBDIR.fullmatch(
        path.name
    ):
        raise ConfigError(
            f"{str(path)!r} is a subdir of a channel (it holds artifacts directly)",
            hint=f"Mirror into the channel instead: {path.resolve().parent}",
        )
    channel_like = any(
        e.name in (STATE_DIR, CHANNELDATA_JSON) or (e.is_dir() and _SUBDIR.fullmatch(e.name))
        for e in entries
    )
    if entries and not channel_like:
        raise ConfigError(
            f"{str(path)!r} is not a channel directory (it holds other files and no "
            "noarch/ or .stockyard/)",
            hint=_HINT,
        )
