"""`GET /api/channels/{channel}/mirror`: the status of a scheduled mirror (see
`server/mirror_schedule.py`): state (`never`, `running`, `ok`, `failed`), the times of the last
run, last success and next run (ms since the epoch), the last error and the last run's counts.
Readable by whoever can read the channel; the upstream URL has its token masked."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stockyard.server.api import Caller, State
from stockyard.server.auth import readable_channel
from stockyard.server.mirror_schedule import read_status
from stockyard.server.models import ErrorOut
from stockyard.types.errors import NotFound

router = APIRouter(prefix="/api", tags=["mirrors"])


@router.get(
    "/channels/{channel}/mirror",
    responses={404: {"model": ErrorOut, "description": "No such channel, or not a mirror."}},
    summary="A scheduled mirror's sync status",
)
def get_mirror_status(channel: str, state: State, caller: Caller) -> dict[str, Any]:
    found = readable_channel(state.catalog, channel, caller)
    for spec in state.settings.mirrors:
        if spec.channel == found.name:
            return read_status(state.settings, spec)
    raise NotFound(
        f"channel {found.name!r} is not a scheduled mirror",
        hint="Scheduled mirrors are [[mirrors]] tables in the server's settings file.",
    )
