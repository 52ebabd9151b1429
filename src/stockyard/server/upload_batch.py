"""Group commit of uploads: every upload waiting for a channel is stored and published at once.

Each request validates its own artifact (in a worker thread, in parallel with other requests),
then submits it here. While a batch is being committed, or waits for the channel's lock, newly
validated uploads wait in the queue; the next batch takes all of them once it holds the lock.
With many concurrent uploaders the cost of the lock, the fsyncs and the republish is shared by
the whole batch instead of being paid once per upload.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Protocol

import anyio

from stockyard.index.upload import UploadResult, ValidatedUpload
from stockyard.index.upload_queue import SharedUploads, timed
from stockyard.types.errors import StockyardError

#: Commits, in a worker thread, the uploads that `take()` returns once it holds the channel's
#: lock: one outcome per upload, in order (`stockyard.index.upload.ingest_waiting`).
CommitBatch = Callable[[Callable[[], list[ValidatedUpload]]], list[UploadResult | StockyardError]]


class BatchObserver(Protocol):
    """Told what a channel's queue does (the server's metrics)."""

    def waiting(self, count: int) -> None:
        """`count` uploads now wait for the next batch."""

    def committed(self, size: int, seconds: float) -> None:
        """A batch of `size` uploads was committed and published in `seconds`."""


_Waiting = tuple[ValidatedUpload, "asyncio.Future[UploadResult]"]


class UploadBatcher:
    """The queue of one channel in this process (the channel's lock orders processes).

    The batch is taken when the channel's lock is held, not before waiting for it: while another
    process or replica publishes, every upload arriving here joins the one batch this process
    commits next.
    """

    def __init__(self, commit: CommitBatch, observer: BatchObserver | None = None) -> None:
        self._commit = commit
        self._pending: list[_Waiting] = []
        # `take` runs in the commit's worker thread while `submit` appends on the event loop.
        self._guard = threading.Lock()
        self._draining: asyncio.Task[None] | None = None
        self.observer = observer

    async def submit(self, upload: ValidatedUpload) -> UploadResult:
        future: asyncio.Future[UploadResult] = asyncio.get_running_loop().create_future()
        with self._guard:
            self._pending.append((upload, future))
            count = len(self._pending)
        if self.observer is not None:
            self.observer.waiting(count)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        # The upload is committed even if the client goes away meanwhile.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch: list[_Waiting] = []

            def take(batch: list[_Waiting] = batch) -> list[ValidatedUpload]:
                with self._guard:
                    batch.extend(self._pending)
                    self._pending = []
                if self.observer is not None:
                    self.observer.waiting(0)
                return [upload for upload, _ in batch]

            started = time.perf_counter()
            try:
                outcomes: (
                    list[UploadResult | StockyardError] | BaseException
                ) = await anyio.to_thread.run_sync(self._commit, take)
            except BaseException as exc:  # e.g. the channel lock timed out: fails the batch
                outcomes = exc
                if not batch:  # the commit failed before taking: what waits fails with it
                    take()
            else:
                if self.observer is not None:
                    self.observer.committed(len(batch), time.perf_counter() - started)
            self._settle(batch, outcomes)

    @staticmethod
    def _settle(
        batch: list[_Waiting], outcomes: list[UploadResult | StockyardError] | BaseException
    ) -> None:
        for i, (_, future) in enumerate(batch):
            if future.done():
                continue
            outcome = outcomes if isinstance(outcomes, BaseException) else outcomes[i]
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


class SharedUploadBatcher:
    """The uploads of one channel in this replica, with a PostgreSQL catalog: each is queued
    where every replica sees it as soon as it is validated (`SharedUploads.queue`), also while
    this process commits, so the next commit on any replica takes it. One task per channel waits
    for the lock or for outcomes (`SharedUploads.settle`) and answers the clients."""

    def __init__(self, shared: SharedUploads, observer: BatchObserver | None = None) -> None:
        self._shared = shared
        self._waiting: dict[int, tuple[ValidatedUpload, asyncio.Future[UploadResult]]] = {}
        # `ids` runs in the settling worker thread while `submit` adds on the event loop.
        self._guard = threading.Lock()
        self._draining: asyncio.Task[None] | None = None
        self.observer = observer
        if observer is not None:  # a commit this replica leads carries other replicas' uploads
            shared.on_commit = observer.committed

    async def submit(self, upload: ValidatedUpload) -> UploadResult:
        (queued,) = await anyio.to_thread.run_sync(self._shared.queue, [upload])
        future: asyncio.Future[UploadResult] = asyncio.get_running_loop().create_future()
        with self._guard:
            self._waiting[queued] = (upload, future)
            count = len(self._waiting)
        if self.observer is not None:
            self.observer.waiting(count)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        # The upload is committed even if the client goes away meanwhile.
        return await asyncio.shield(future)

    def _ids(self) -> list[int]:
        with self._guard:
            return list(self._waiting)

    async def _drain(self) -> None:
        while self._waiting:
            try:
                outcomes: (
                    dict[int, UploadResult | StockyardError] | BaseException
                ) = await anyio.to_thread.run_sync(self._shared.settle, self._ids)
            except BaseException as exc:  # a bug or a lost catalog: what waits fails with it
                outcomes = exc
            self._answer(outcomes)

    def _answer(self, outcomes: dict[int, UploadResult | StockyardError] | BaseException) -> None:
        with self._guard:
            ids = list(self._waiting) if isinstance(outcomes, BaseException) else list(outcomes)
            answered = [(i, *self._waiting.pop(i)) for i in ids if i in self._waiting]
            left = len(self._waiting)
        if self.observer is not None:
            self.observer.waiting(left)
        for i, upload, future in answered:
            if future.done():
                continue
            if isinstance(outcomes, BaseException):
                future.set_exception(outcomes)
                continue
            outcome = timed(outcomes[i], upload)
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
