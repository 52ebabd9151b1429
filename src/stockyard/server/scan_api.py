"""Scan results in the JSON API: a channel's report and one artifact's (read rights are the
channel's). Results come from the scan database (`<data_dir>/scan.db`, written by
`stockyard scan`, which reads the artifacts from the channel's store, a local directory or a
bucket); nothing is scanned or read in a request. Handlers are plain `def`s (worker threads).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from stockyard.scan.report import artifact_reports, channel_report, to_builtins
from stockyard.scan.service import stored_artifact
from stockyard.scan.sources import catalog_artifacts
from stockyard.scan.store import ScanStore, default_scan_db
from stockyard.server.api import Caller, State
from stockyard.server.auth import readable_channel
from stockyard.server.models import ErrorOut
from stockyard.server.state import ServerState
from stockyard.types.errors import NotFound

router = APIRouter(prefix="/api", tags=["scan"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or invalid token."},
    404: {"model": ErrorOut, "description": "No such channel or artifact, or no scan database."},
}
Subdir = Annotated[str, Path(min_length=1, max_length=64)]
Filename = Annotated[str, Path(min_length=1, max_length=256)]


def _store(state: ServerState) -> ScanStore:
    return ScanStore(default_scan_db(state.settings.data_path), create=False)


@router.get("/channels/{channel}/scan", responses=_ERRORS)
def get_channel_scan(channel: str, state: State, caller: Caller) -> dict[str, Any]:
    """The channel's scan report: counts per severity, and every vulnerable or unreadable
    artifact with its findings (advisory, severity, component purl, fixed versions)."""
    found = readable_channel(state.catalog, channel, caller)
    refs = catalog_artifacts(state.catalog, found.name, state.layout.store(found.name))
    store = _store(state)
    try:
        report: dict[str, Any] = to_builtins(channel_report(store, found.name, refs))
    finally:
        store.close()
    return report


@router.get("/channels/{channel}/packages/{subdir}/{filename}/scan", responses=_ERRORS)
def get_artifact_scan(
    channel: str, subdir: Subdir, filename: Filename, state: State, caller: Caller
) -> dict[str, Any]:
    """One artifact's scan: status, findings, identified components, warnings."""
    found = readable_channel(state.catalog, channel, caller)
    row = state.catalog.artifact(found.id, subdir, filename)
    if row is None:
        raise NotFound(f"no artifact {subdir}/{filename} in channel {found.name}")
    ref = stored_artifact(state.layout.store(found.name), subdir, filename, row.sha256)
    store = _store(state)
    try:
        (report,) = artifact_reports(store, [ref])
    finally:
        store.close()
    result: dict[str, Any] = to_builtins(report)
    return result
