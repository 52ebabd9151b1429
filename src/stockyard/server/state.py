"""The per-app state: everything a request handler needs, created by `create_app`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from stockyard.catalog import Catalog, Channel
from stockyard.config import Settings
from stockyard.server.channels import DataLayout
from stockyard.server.spool import SpoolOwner
from stockyard.server.upload_batch import UploadBatcher
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
    metrics: Metrics
    channels: ChannelCache = field(default_factory=lambda: ChannelCache(0))
    #: This process's claim on the upload spool files it writes (see server/spool.py).
    spool_owner: SpoolOwner = field(default_factory=SpoolOwner)
    _batchers: dict[int, UploadBatcher] = field(default_factory=dict)

    def upload_batcher(self, channel: Channel) -> UploadBatcher:
        """The upload queue of a channel in this process: validated uploads waiting for the
        channel are committed together (see server/upload_batch.py)."""
        batcher = self._batchers.get(channel.id)
        if batcher is None:
            from stockyard.index.upload import ingest_uploads

            commit = partial(
                ingest_uploads,
                self.catalog,
                self.store(channel),
                channel,
                workspace=self.layout.workspace(channel.name),
                lock_timeout=self.settings.lock_timeout,
            )
            batcher = self._batchers[channel.id] = UploadBatcher(commit)
        return batcher

    def store(self, channel: Channel) -> LocalStore:
        return self.layout.store(channel.name)

    def channel_url(self, name: str) -> str:
        return f"{self.settings.base_url}/{name}"


def get_state(request: HTTPConnection) -> ServerState:
    """The state of the app serving `request` (also what the web UI uses)."""
    return request.app.state.stockyard
