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
    _scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def mirror_dir(self) -> Path:
        """The mirror's working area: never scanned, served or published."""
        return self.handle.workspace.state_dir / "mirror"

    @property
    def description(self) -> str:
        return self.shown_as or str(self.handle.workspace.directory)

    def close(self) -> None:
        if self.owns_catalog:
            self.catalog.close()
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
    catalog = Catalog.open(db_url or sqlite_url(workspace.state_dir / "catalog.db"))
    try:
        channel = catalog.ensure_channel(catalog_channel_name(path.resolve().name or "channel"))
    except BaseException:
        catalog.close()
        raise
    return MirrorTarget(catalog, ChannelHandle(channel, LocalStore(path), workspace))


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
