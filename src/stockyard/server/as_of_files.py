"""`GET /<channel>/as-of/<T>/<subdir>/...`: the channel as it was at T (see
`stockyard.timetravel`). `repodata.json` (and `.zst`) are rendered on demand from the catalog
and cached in the channel's local working area (every replica renders its own: same bytes);
artifacts are the live channel's files, looked up in its store (with bucket storage, through
the replica's read-through cache, as the channel file route does). An artifact removed since T
answers 404 with a hint: snapshots keep removed artifacts, as-of views do not. Everything else
is 404, so clients fall back from shards to repodata.json. Rights are the live channel's."""

from __future__ import annotations

from pathlib import Path

from stockyard.server.auth import authenticate, readable_channel
from stockyard.server.http_files import OpenFile, open_regular_file
from stockyard.server.state import ServerState
from stockyard.timetravel import AsOfView, parse_as_of, render_as_of
from stockyard.types.errors import NotFound
from stockyard.types.identifiers import check_subdir, is_artifact_filename
from stockyard.types.repodata import REPODATA_JSON

_RENDERED = (REPODATA_JSON, REPODATA_JSON + ".zst")


def as_of_file(
    state: ServerState, channel_name: str, rest: str, token: str | None
) -> tuple[bool, int, OpenFile]:
    """(private?, max-age, the open file) for `as-of/<rest>` -- blocking, runs in a thread."""
    channel = state.catalog.get_channel(channel_name)
    if channel is None or channel.private:
        channel = readable_channel(state.catalog, channel_name, authenticate(state.catalog, token))
    view_max_age = state.channel_view(channel).max_age
    parts = rest.split("/")
    if len(parts) != 3:
        raise NotFound(
            f"no file {rest[:200]!r} in an as-of view",
            hint="As-of views serve <T>/<subdir>/repodata.json and the artifacts it lists.",
        )
    stamp, subdir, filename = parts
    at = parse_as_of(stamp)
    check_subdir(subdir)
    channel_dir = state.layout.channel_dir(channel.name)
    if filename in _RENDERED:
        path = render_as_of(state.catalog, AsOfView(channel, channel_dir, at), subdir)
        return channel.private, view_max_age, _opened(path.with_name(filename))
    if is_artifact_filename(filename):
        opened = _artifact(state, channel.name, f"{subdir}/{filename}")
        if opened is None:
            raise NotFound(
                f"{subdir}/{filename} is no longer in channel {channel.name}",
                hint="As-of views list what was there; snapshots also keep the files.",
            )
        return channel.private, view_max_age, opened
    raise NotFound(f"no {filename[:100]!r} in an as-of view; clients use repodata.json")


def _artifact(state: ServerState, channel_name: str, key: str) -> OpenFile | None:
    """The live channel's file `key`, from its store: a local file as it is, an object of a
    bucket through the replica's local copies (`state.remote_files`)."""
    store = state.layout.store(channel_name)
    if state.remote_files is not None:
        return state.remote_files.open(channel_name, store, key)
    path = store.local_path(key)
    return open_regular_file(path) if path is not None else None


def _opened(path: Path) -> OpenFile:
    opened = open_regular_file(path)
    if opened is None:
        raise NotFound(f"no file {path.name!r}")
    return opened
