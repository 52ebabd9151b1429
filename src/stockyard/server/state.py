"""The per-app state: everything a request handler needs, created by `create_app`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from stockyard.catalog import Catalog, Channel
from stockyard.config import Settings
from stockyard.publish.subdir import PublishOptions
from stockyard.server.channels import DataLayout
from stockyard.storage import LocalStore

if TYPE_CHECKING:
    from stockyard.server.observability import Metrics


class ChannelCache:
    """Channel rows by name for `ttl` seconds, so anonymous reads of a public channel need no
    catalog query. Only the channel row is cached, never a token: revocation acts at once. A
    channel made private elsewhere (CLI, another replica) stops being public within `ttl`."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._rows: dict[str, tuple[float, Channel]] = {}

    def get(self, name: str) -> Channel | None:
        hit = self._rows.get(name)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, channel: Channel) -> None:
        if self.ttl > 0:
            self._rows[channel.name] = (time.monotonic() + self.ttl, channel)

    def forget(self, name: str) -> None:
        self._rows.pop(name, None)


@dataclass(slots=True)
class ServerState:
    settings: Settings
    catalog: Catalog
    layout: DataLayout
    publish_options: PublishOptions
    metrics: Metrics
    channels: ChannelCache = field(default_factory=lambda: ChannelCache(0))
    _upload_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def upload_lock(self, channel: str) -> asyncio.Lock:
        """A FIFO queue for the uploads of one channel in this process.

        Uploads of a channel are serialized by its file lock anyway; queueing them here first
        makes the order fair (first come, first published) instead of a race of lock pollers,
        which is what keeps the tail latency down with many concurrent uploaders.
        """
        lock = self._upload_locks.get(channel)
        if lock is None:
            lock = self._upload_locks[channel] = asyncio.Lock()
        return lock

    def store(self, channel: Channel) -> LocalStore:
        return self.layout.store(channel.name)

    def channel_url(self, name: str) -> str:
        return f"{self.settings.base_url}/{name}"


def get_state(request: HTTPConnection) -> ServerState:
    """The state of the app serving `request` (also what the web UI uses)."""
    return request.app.state.stockyard
