"""Mirrors and proxies in the JSON API.

- `GET /api/channels/{channel}/mirror`: a mirrored channel's sync status
  (`mirror_schedule.mirror_status`): for a scheduled mirror its state (`never`, `running`,
  `ok`, `failed`), the times of the last run, last success and next run (ms since the epoch),
  the last error and the last run's counts; for a channel `stockyard mirror --server-channel`
  published into, the last such run. Readable by whoever can read the channel; the upstream
  URL has its token masked.
- `GET /api/channels/{channel}/proxy`: a proxy channel's settings and what its cache holds
  (readers of the channel); `PUT` changes its upstreams, TTL, timeout or cache bounds (admin
  on the channel, checked as at creation); `POST .../proxy/prune` prunes its cache now.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from stockyard.server.api import Caller, State
from stockyard.server.auth import channel_for, readable_channel
from stockyard.server.mirror_schedule import mirror_status
from stockyard.server.models import ErrorOut
from stockyard.types.errors import NotFound

router = APIRouter(prefix="/api", tags=["mirrors"])

_PROXY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid settings (a URL, a bound, nothing given)."},
    401: {"model": ErrorOut, "description": "Missing or invalid token."},
    403: {"model": ErrorOut, "description": "The token lacks admin scope on the channel."},
    404: {"model": ErrorOut, "description": "No such channel."},
    409: {"model": ErrorOut, "description": "Not a proxy channel."},
}


class ProxySettingsIn(BaseModel):
    """What to change (fields left out stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    upstreams: list[str] | None = Field(
        None, min_length=1, max_length=16, description="The new upstreams, in failover order."
    )
    ttl: int | None = Field(None, ge=0, description="Seconds repodata is cached.")
    timeout: float | None = Field(None, gt=0, description="Seconds an upstream may take.")
    max_cache_bytes: int | None = Field(None, ge=0, description="Cache bound (0: none).")
    max_cache_age: int | None = Field(
        None, ge=0, description="Seconds an artifact stays cached unserved (0: no bound)."
    )


@router.get(
    "/channels/{channel}/mirror",
    responses={404: {"model": ErrorOut, "description": "No such channel, or not a mirror."}},
    summary="A mirrored channel's sync status",
)
def get_mirror_status(channel: str, state: State, caller: Caller) -> dict[str, Any]:
    found = readable_channel(state.catalog, channel, caller)
    status = mirror_status(state.settings, found.name)
    if status is None:
        raise NotFound(
            f"channel {found.name!r} is not a mirror",
            hint="Scheduled mirrors are [[mirrors]] tables in the server's settings file; "
            "`stockyard mirror URL --server-channel NAME` mirrors into a channel once.",
        )
    return status


@router.get(
    "/channels/{channel}/proxy",
    responses=_PROXY_ERRORS,
    summary="A proxy channel's settings and cache",
)
def get_proxy(channel: str, state: State, caller: Caller) -> dict[str, Any]:
    from stockyard.proxy.manage import proxy_of, proxy_settings_dict

    found = readable_channel(state.catalog, channel, caller)
    _channel, policy = proxy_of(state.catalog, found.name)
    return proxy_settings_dict(found.name, policy, state.layout.state_dir(found.name))


@router.put(
    "/channels/{channel}/proxy",
    responses=_PROXY_ERRORS,
    summary="Change a proxy channel's upstreams, TTL, timeout or cache bounds",
)
def put_proxy(channel: str, body: ProxySettingsIn, state: State, caller: Caller) -> dict[str, Any]:
    from stockyard.proxy.manage import ProxyChanges, change_proxy, proxy_settings_dict

    found = channel_for(state.catalog, channel, caller, "admin")
    changes = ProxyChanges(
        upstreams=tuple(body.upstreams) if body.upstreams is not None else None,
        ttl=body.ttl,
        timeout=body.timeout,
        max_cache_bytes=body.max_cache_bytes,
        max_cache_age=body.max_cache_age,
    )
    policy = change_proxy(state.catalog, found.name, changes)
    state.channels.forget(found.name)  # this process follows at once, the others within a TTL
    return proxy_settings_dict(found.name, policy, state.layout.state_dir(found.name))


@router.post(
    "/channels/{channel}/proxy/prune",
    responses=_PROXY_ERRORS,
    summary="Prune a proxy channel's cache now",
)
async def post_proxy_prune(
    channel: str,
    state: State,
    caller: Caller,
    dry_run: Annotated[bool, Query(description="Report what would go; delete nothing.")] = False,
) -> dict[str, Any]:
    from stockyard.proxy.manage import proxy_of, prune_proxy

    def work() -> dict[str, Any]:
        found = channel_for(state.catalog, channel, caller, "admin")
        _channel, policy = proxy_of(state.catalog, found.name)
        directory = state.layout.state_dir(found.name)
        return prune_proxy(directory, policy, dry_run=dry_run).to_dict()

    return await anyio.to_thread.run_sync(work)
