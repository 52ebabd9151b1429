"""The per-app state: everything a request handler needs, created by `create_app`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import anyio
from starlette.requests import HTTPConnection

from stockyard.catalog import Catalog, Channel
from stockyard.config import Settings
from stockyard.server.channels import DataLayout
from stockyard.server.spool import SpoolOwner
from stockyard.server.upload_batch import SharedUploadBatcher, UploadBatcher
from stockyard.storage import Store
from stockyard.types.policy import ProxyPolicy

if TYPE_CHECKING:
    from stockyard.server.observability import Metrics
    from stockyard.server.remote_files import RemoteFiles


@dataclass(frozen=True, slots=True)
class ChannelView:
    """What serving a channel's files needs: its row and its repodata Cache-Control max-age
    (the channel's policy `repodata_max_age`, else the server's setting); for a proxy channel,
    its proxy policy (its files come from `server/proxy_files.py`)."""

    channel: Channel
    max_age: int
    proxy: ProxyPolicy | None = None


class ChannelCache:
    """Channel views by name for `ttl` seconds, so anonymous reads of a public channel need no
    catalog query. Only the channel is cached, never a token: revocation acts at once. A channel
    made private (or given another max-age) elsewhere follows within `ttl`."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._rows: dict[str, tuple[float, ChannelView]] = {}
        #: Loads under way, by channel name (touched only on the event loop).
        self._loading: dict[str, asyncio.Future[ChannelView | None]] = {}

    async def refreshed(
        self, name: str, load: Callable[[], ChannelView | None]
    ) -> ChannelView | None:
        """The view of `name`: cached, or loaded by `load` in a worker thread (None: no such
        channel). One load per name at a time: the requests that find the entry expired while a
        load is under way wait for it, rather than each querying the catalog (at a few thousand
        requests a second, every expiry sent dozens of queries at once). A load that fails
        raises for the request that ran it; those waiting get None (and look for themselves).
        """
        hit = self.get(name)
        if hit is not None:
            return hit
        pending = self._loading.get(name)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = asyncio.get_running_loop().create_future()
        self._loading[name] = pending
        view = None
        try:
            view = await anyio.to_thread.run_sync(load)
        finally:
            del self._loading[name]
            pending.set_result(view)
        return view

    def get(self, name: str) -> ChannelView | None:
        hit = self._rows.get(name)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, view: ChannelView) -> None:
        if self.ttl > 0:
            self._rows[view.channel.name] = (time.monotonic() + self.ttl, view)

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
    _batchers: dict[int, UploadBatcher | SharedUploadBatcher] = field(default_factory=dict)
    #: With bucket storage: this replica's local copies of the files it serves.
    remote_files: RemoteFiles | None = None
    #: Whether `server/fast_files.py` answers cheap channel-file requests below the framework
    #: (tests turn it off to compare its answers with the route's).
    fast_files: bool = True

    def upload_batcher(self, channel: Channel) -> UploadBatcher | SharedUploadBatcher:
        """The upload queue of a channel in this process: validated uploads waiting for the
        channel are committed together (see server/upload_batch.py); with replicas, together
        with those waiting on every other replica (stockyard.index.upload_queue)."""
        batcher = self._batchers.get(channel.id)
        if batcher is None:
            workspace = self.layout.workspace(channel.name)
            observer = self.metrics.batch_observer(channel.name)
            if workspace.shared_locks is not None:  # replicas: one batch across all of them
                from stockyard.index.upload_queue import SharedUploads

                shared = SharedUploads(
                    self.catalog,
                    self.store(channel),
                    channel,
                    workspace,
                    lock_timeout=self.settings.lock_timeout,
                )
                batcher = SharedUploadBatcher(shared, observer)
            else:
                from stockyard.index.upload import ingest_waiting

                commit = partial(
                    ingest_waiting,
                    self.catalog,
                    self.store(channel),
                    channel,
                    workspace=workspace,
                    lock_timeout=self.settings.lock_timeout,
                )
                batcher = UploadBatcher(commit, observer)
            self._batchers[channel.id] = batcher
        return batcher

    def load_channel_view(self, name: str) -> ChannelView | None:
        """Blocking: the channel `name`'s view from the catalog (None: no such channel), also
        put in the channel cache."""
        channel = self.catalog.get_channel(name)
        if channel is None:
            return None
        view = self.channel_view(channel)
        self.channels.put(view)
        return view

    def channel_view(self, channel: Channel) -> ChannelView:
        """Blocking: reads the channel's policy."""
        policy = self.catalog.channel_policy(channel.id)
        policy_age = policy.repodata_max_age
        max_age = self.settings.repodata_max_age if policy_age is None else policy_age
        return ChannelView(channel, max_age, policy.proxy)

    def store(self, channel: Channel) -> Store:
        return self.layout.store(channel.name)

    def channel_url(self, name: str) -> str:
        return f"{self.settings.base_url}/{name}"


def get_state(request: HTTPConnection) -> ServerState:
    """The state of the app serving `request` (also what the web UI uses)."""
    return request.app.state.stockyard
