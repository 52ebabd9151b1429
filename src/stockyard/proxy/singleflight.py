"""One task per key: concurrent callers for the same key share one result (one download)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class SingleFlight(Generic[_T]):
    """`await flights.run(key, make)`: runs `make()` once for every caller that arrives while
    it is in flight. The work is shielded: a caller that goes away (a client disconnect) does
    not cancel it for the others, and its result still lands in the cache. Per event loop."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[_T]] = {}

    def in_flight(self, key: str) -> bool:
        return key in self._tasks

    async def run(self, key: str, make: Callable[[], Awaitable[_T]]) -> _T:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: str, task: asyncio.Task[_T]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" warning
