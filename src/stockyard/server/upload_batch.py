"""Group commit of uploads: every upload waiting for a channel is stored and published at once.

Each request validates its own artifact (in a worker thread, in parallel with other requests),
then submits it here. While a batch is being committed, newly validated uploads wait in the
queue; when the batch is done they are all committed together in the next one. With many
concurrent uploaders the cost of the lock, the fsyncs and the republish is shared by the whole
batch instead of being paid once per upload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import anyio

from stockyard.index.upload import UploadResult, ValidatedUpload
from stockyard.types.errors import StockyardError

#: Commits a batch in a worker thread: one outcome per upload, in order.
CommitBatch = Callable[[list[ValidatedUpload]], list[UploadResult | StockyardError]]


class BatchObserver(Protocol):
    """Told what a channel's queue does (the server's metrics)."""

    def waiting(self, count: int) -> None:
        """`count` uploads now wait for the next batch."""

    def committed(self, size: int, seconds: float) -> None:
        """A batch of `size` uploads was committed and published in `seconds`."""


class UploadBatcher:
    """The queue of one channel in this process (the channel's file lock orders processes)."""

    def __init__(self, commit: CommitBatch, observer: BatchObserver | None = None) -> None:
        self._commit = commit
        self._pending: list[tuple[ValidatedUpload, asyncio.Future[UploadResult]]] = []
        self._draining: asyncio.Task[None] | None = None
        self.observer = observer

    async def submit(self, upload: ValidatedUpload) -> UploadResult:
        future: asyncio.Future[UploadResult] = asyncio.get_running_loop().create_future()
        self._pending.append((upload, future))
        if self.observer is not None:
            self.observer.waiting(len(self._pending))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        # The upload is committed even if the client goes away meanwhile.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            uploads = [upload for upload, _ in batch]
            if self.observer is not None:
                self.observer.waiting(0)
            started = time.perf_counter()
            try:
                outcomes: (
                    list[UploadResult | StockyardError] | BaseException
                ) = await anyio.to_thread.run_sync(self._commit, uploads)
            except BaseException as exc:  # e.g. the channel lock timed out: fails the batch
                outcomes = exc
            else:
                if self.observer is not None:
                    self.observer.committed(len(batch), time.perf_counter() - started)
            for i, (_, future) in enumerate(batch):
                if future.done():
                    continue
                outcome = outcomes if isinstance(outcomes, BaseException) else outcomes[i]
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
