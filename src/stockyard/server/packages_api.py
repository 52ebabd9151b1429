"""Operators' package changes in the JSON API: remove, yank/restore, copy/move between channels.

Each calls one function of `stockyard.index.manage` (the one commit path), with a write token on
every channel it changes. Handlers are plain `def`s (run in worker threads).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from stockyard.index.manage import (
    ChannelHandle,
    PackageChange,
    copy_package,
    remove_package,
    set_yanked,
)
from stockyard.server.api import Caller, State
from stockyard.server.auth import channel_for, require_server_scope
from stockyard.server.models import ErrorOut, PackageChangeOut, PackageCopyIn
from stockyard.server.state import ServerState
from stockyard.types.errors import Conflict

router = APIRouter(prefix="/api", tags=["packages"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "An invalid name."},
    401: {"model": ErrorOut, "description": "Missing or invalid token."},
    403: {"model": ErrorOut, "description": "The token lacks write scope on the channel."},
    404: {"model": ErrorOut, "description": "No such channel or artifact."},
    409: {"model": ErrorOut, "description": "The artifact exists in the target channel."},
    503: {"model": ErrorOut, "description": "Stored but not yet published, or channel busy."},
}
_PACKAGE = "/channels/{channel}/packages/{subdir}/{filename}"
Subdir = Annotated[str, Path(min_length=1, max_length=64)]
Filename = Annotated[str, Path(min_length=1, max_length=256)]


def _handle(state: ServerState, caller: Caller, name: str) -> ChannelHandle:
    from stockyard.server.channels import channel_handle

    channel = channel_for(state.catalog, name, caller, "write")
    return channel_handle(state.settings, state.catalog, channel.name)


def _out(change: PackageChange) -> PackageChangeOut:
    return PackageChangeOut(
        channel=change.channel,
        subdir=change.subdir,
        filename=change.filename,
        action=change.action,
    )


@router.delete(_PACKAGE, response_model=PackageChangeOut, responses=_ERRORS, summary="Remove")
def delete_package(
    channel: str, subdir: Subdir, filename: Filename, state: State, caller: Caller
) -> PackageChangeOut:
    """Remove an artifact: the file goes and its filename is listed in repodata `removed`."""
    handle = _handle(state, caller, channel)
    timeout = state.settings.lock_timeout
    return _out(remove_package(state.catalog, handle, subdir, filename, lock_timeout=timeout))


@router.post(_PACKAGE + "/yank", response_model=PackageChangeOut, responses=_ERRORS)
def yank_package(
    channel: str, subdir: Subdir, filename: Filename, state: State, caller: Caller
) -> PackageChangeOut:
    """Yank (revoke) an artifact: still listed, never chosen by a solver; reversible."""
    return _set_yanked(state, caller, channel, subdir, filename, yanked=True)


@router.delete(_PACKAGE + "/yank", response_model=PackageChangeOut, responses=_ERRORS)
def restore_package(
    channel: str, subdir: Subdir, filename: Filename, state: State, caller: Caller
) -> PackageChangeOut:
    """Undo a yank."""
    return _set_yanked(state, caller, channel, subdir, filename, yanked=False)


def _set_yanked(
    state: ServerState, caller: Caller, channel: str, subdir: str, filename: str, *, yanked: bool
) -> PackageChangeOut:
    handle = _handle(state, caller, channel)
    timeout = state.settings.lock_timeout
    change = set_yanked(state.catalog, handle, subdir, filename, yanked, lock_timeout=timeout)
    return _out(change)


@router.post(_PACKAGE + "/copy", response_model=PackageChangeOut, responses=_ERRORS)
def copy_to_channel(
    channel: str,
    subdir: Subdir,
    filename: Filename,
    body: PackageCopyIn,
    state: State,
    caller: Caller,
) -> PackageChangeOut:
    """Copy (or move) an artifact to another channel: same bytes and indexed_timestamp."""
    source = _handle(state, caller, channel)
    target = _handle(state, caller, body.to)
    change = copy_package(
        state.catalog,
        source,
        target,
        subdir,
        filename,
        move=body.move,
        lock_timeout=state.settings.lock_timeout,
    )
    return _out(change)


@router.delete(
    "/channels/{channel}",
    status_code=204,
    responses=_ERRORS,
    summary="Delete a channel and all its packages (server-wide admin token)",
)
def delete_channel(
    channel: str,
    state: State,
    caller: Caller,
    confirm: Annotated[str, Query(max_length=128, description="The channel's name again.")],
) -> Response:
    from stockyard.server.channels import delete_channel as delete

    require_server_scope(caller, "admin", "deleting a channel")
    if confirm != channel:
        raise Conflict(
            f"deleting channel {channel!r} needs ?confirm={channel}",
            hint="Deletion removes every package of the channel and cannot be undone.",
        )
    delete(state.settings, state.catalog, channel)
    state.channels.forget(channel)
    return Response(status_code=204)
