"""Patch-set versions and snapshots in the JSON API.

`PUT /api/channels/{c}/patches` stores a new patch-set version and puts it in force (admin on the
channel); `GET` lists the versions; `POST .../patches/{v}/activate` rolls back or forward;
`DELETE .../patches/active` turns patches off. Snapshots: `POST`/`GET /api/channels/{c}/
snapshots`, `GET .../snapshots/{id}/diff?against=live|<id>`, `DELETE .../snapshots/{id}`.
Snapshots are served at `/<c>/snapshots/<id>/` like any channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Request, Response
from starlette.requests import ClientDisconnect

from stockyard.catalog import PatchSetRow, SnapshotRow
from stockyard.patchsets import (
    MAX_PATCH_SET_BYTES,
    PatchSetContent,
    activate_patch_set,
    store_patch_set,
)
from stockyard.server.api import Caller, State
from stockyard.server.auth import Principal, channel_for
from stockyard.server.models import (
    ErrorOut,
    PatchSetOut,
    PatchSetsOut,
    SnapshotIn,
    SnapshotOut,
)
from stockyard.server.state import ServerState
from stockyard.types.errors import InvalidMetadata, SizeLimitExceeded

router = APIRouter(prefix="/api", tags=["history"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The patch set does not load, or a bad id."},
    401: {"model": ErrorOut, "description": "Missing or invalid token."},
    403: {"model": ErrorOut, "description": "The token lacks admin scope on the channel."},
    404: {"model": ErrorOut, "description": "No such channel, version or snapshot."},
    413: {"model": ErrorOut, "description": "The patch set is too large."},
}
SnapshotId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]


def _who(caller: Principal) -> str | None:
    token = caller.token
    if token is None:
        return None
    return token.description or f"token {token.prefix}"


def _patch_out(row: PatchSetRow) -> PatchSetOut:
    return PatchSetOut(
        version=row.version,
        kind=row.kind,
        sha256=row.sha256,
        size=row.size,
        created_at=row.created_at,
        created_by=row.created_by,
        active=row.active,
        active_from=row.active_from,
        active_until=row.active_until,
    )


async def _bounded_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_PATCH_SET_BYTES:
                raise SizeLimitExceeded(
                    "patch set", f"larger than {MAX_PATCH_SET_BYTES} bytes", hint="Split it."
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidMetadata("the client went away before the patch set arrived") from None
    return b"".join(chunks)


def _republisher(state: ServerState, name: str) -> Callable[[], None]:
    from stockyard.server.channels import republish_with_labels

    return lambda: republish_with_labels(state.settings, state.catalog, name)


@router.put(
    "/channels/{channel}/patches",
    response_model=PatchSetOut,
    status_code=201,
    responses=_ERRORS,
    summary="Store a new patch-set version and put it in force",
)
async def put_patches(channel: str, request: Request, state: State, caller: Caller) -> PatchSetOut:
    """Body: a YAML document stream (conda-forge's patch YAML), patch_instructions JSON, or a
    tar/zip of a folder of YAML files; the content decides. The channel is republished with it;
    if the patches are refused, nothing changes and the error says where."""
    body = await _bounded_body(request)

    def work() -> PatchSetRow:
        found = channel_for(state.catalog, channel, caller, "admin")
        workspace = state.layout.workspace(found.name)
        row = store_patch_set(state.catalog, found, workspace, PatchSetContent(body, _who(caller)))
        activate_patch_set(state.catalog, found, row.version, _republisher(state, found.name))
        return state.catalog.patch_set(found.id, row.version)

    return _patch_out(await anyio.to_thread.run_sync(work))


@router.get("/channels/{channel}/patches", response_model=PatchSetsOut, responses=_ERRORS)
def get_patches(channel: str, state: State, caller: Caller) -> PatchSetsOut:
    """The channel's patch-set versions, newest first, and the one in force."""
    found = channel_for(state.catalog, channel, caller, "read")
    rows = state.catalog.patch_sets(found.id)
    current = next((row.version for row in rows if row.active), None)
    return PatchSetsOut(channel=found.name, current=current, versions=[_patch_out(r) for r in rows])


@router.get("/channels/{channel}/patches/{version}", responses=_ERRORS)
def get_patch_set(
    channel: str, version: Annotated[int, Path(ge=1)], state: State, caller: Caller
) -> Response:
    """The bytes that were uploaded as `version`."""
    from stockyard.patchsets.versions import original_bytes

    found = channel_for(state.catalog, channel, caller, "read")
    row = state.catalog.patch_set(found.id, version)
    media = {"yaml": "application/yaml", "instructions": "application/json"}
    return Response(original_bytes(row), media_type=media.get(row.kind, "application/octet-stream"))


@router.post(
    "/channels/{channel}/patches/{version}/activate",
    response_model=PatchSetOut,
    responses=_ERRORS,
    summary="Put an earlier (or later) version in force",
)
def post_activate(
    channel: str, version: Annotated[int, Path(ge=1)], state: State, caller: Caller
) -> PatchSetOut:
    found = channel_for(state.catalog, channel, caller, "admin")
    activate_patch_set(state.catalog, found, version, _republisher(state, found.name))
    return _patch_out(state.catalog.patch_set(found.id, version))


@router.delete("/channels/{channel}/patches/active", status_code=204, responses=_ERRORS)
def delete_active(channel: str, state: State, caller: Caller) -> Response:
    """Publish without a stored patch set (the versions are kept)."""
    found = channel_for(state.catalog, channel, caller, "admin")
    activate_patch_set(state.catalog, found, None, _republisher(state, found.name))
    return Response(status_code=204)


def _snapshot_out(state: ServerState, channel: str, row: SnapshotRow) -> SnapshotOut:
    from stockyard.snapshots import SNAPSHOTS_DIR

    return SnapshotOut(
        id=row.id,
        url=f"{state.channel_url(channel)}/{SNAPSHOTS_DIR}/{row.id}",
        created_at=row.created_at,
        created_by=row.created_by,
        patch_set_version=row.patch_set_version,
        subdirs=row.subdirs,
        record_count=row.record_count,
        description=row.description,
    )


@router.post(
    "/channels/{channel}/snapshots", response_model=SnapshotOut, status_code=201, responses=_ERRORS
)
def post_snapshot(
    channel: str, state: State, caller: Caller, body: SnapshotIn | None = None
) -> SnapshotOut:
    """Snapshot what the channel serves now; serve it at the returned `url`."""
    from stockyard.snapshots import create_snapshot

    found = channel_for(state.catalog, channel, caller, "admin")
    row = create_snapshot(
        state.catalog,
        found,
        state.layout.workspace(found.name),
        store=state.layout.store(found.name),
        by=_who(caller),
        description=body.description if body else None,
        lock_timeout=state.settings.lock_timeout,
    )
    return _snapshot_out(state, found.name, row)


@router.get("/channels/{channel}/snapshots", response_model=list[SnapshotOut], responses=_ERRORS)
def get_snapshots(channel: str, state: State, caller: Caller) -> list[SnapshotOut]:
    found = channel_for(state.catalog, channel, caller, "read")
    return [_snapshot_out(state, found.name, row) for row in state.catalog.snapshots(found.id)]


@router.get("/channels/{channel}/snapshots/{snapshot_id}/diff", responses=_ERRORS)
def get_snapshot_diff(
    channel: str,
    snapshot_id: SnapshotId,
    state: State,
    caller: Caller,
    against: Annotated[str, Query(max_length=64, pattern=r"^[0-9A-Za-z-]+$")] = "live",
) -> list[dict[str, Any]]:
    """What changed from the snapshot to `against` (another snapshot, or `live`)."""
    from stockyard.snapshots import diff_views, snapshot_store

    found = channel_for(state.catalog, channel, caller, "read")
    state.catalog.snapshot(found.id, snapshot_id)  # NotFound for an unknown id
    store = state.layout.store(found.name)
    if against != "live":
        state.catalog.snapshot(found.id, against)
    after = store if against == "live" else snapshot_store(store, against)
    return [d.to_dict() for d in diff_views(snapshot_store(store, snapshot_id), after)]


@router.delete("/channels/{channel}/snapshots/{snapshot_id}", status_code=204, responses=_ERRORS)
def delete_snapshot(
    channel: str, snapshot_id: SnapshotId, state: State, caller: Caller
) -> Response:
    from stockyard.snapshots import delete_snapshot as delete

    found = channel_for(state.catalog, channel, caller, "admin")
    workspace, store = state.layout.workspace(found.name), state.layout.store(found.name)
    delete(state.catalog, found, workspace, snapshot_id, store=store)
    return Response(status_code=204)
