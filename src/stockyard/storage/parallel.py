"""Overlapping the requests of a remote store: one small thread pool per process.

A bucket answers each request after a network round trip (milliseconds on S3, ~8 ms on moto),
and a commit makes dozens of small independent ones (HEADs, PUTs of the published files). Sent
one after another their latencies add up; sent from a few threads they overlap. A local
directory gains nothing (a stat or a rename is microseconds, and threads would only add
contention on 2 cores), so callers use the pool only when `is_remote(store)`.

The pool is shared by every commit of the process and never blocks on itself: work submitted
to it may wait only for work submitted *earlier* (the queue is first in, first out, so what it
waits for is already running or done).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from stockyard.storage.base import ObjectInfo, Store

T = TypeVar("T")

#: Requests in flight per process. Enough to overlap one commit's ~15 independent requests;
#: the S3 client's connection pool (32) stays larger, so other threads (downloads) still get
#: connections.
POOL_THREADS = 8

_pool: ThreadPoolExecutor | None = None
_pool_guard = threading.Lock()

#: Any key works: `local_path` answers None for every key of a remote store.
_PROBE_KEY = "channeldata.json"


def is_remote(store: Store) -> bool:
    """Whether `store` is not a local directory (a bucket): its requests are worth overlapping."""
    return store.local_path(_PROBE_KEY) is None


def request_pool() -> ThreadPoolExecutor:
    """The process's pool for remote store requests (created on first use)."""
    global _pool
    with _pool_guard:
        if _pool is None:
            _pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="stockyard-store")
        return _pool


def submit(fn: Callable[[], T]) -> Future[T]:
    return request_pool().submit(fn)


def map_all(store: Store, fn: Callable[[str], T], keys: Iterable[str]) -> dict[str, T]:
    """`fn(key)` of every key (a request to `store` each); concurrently on a remote store."""
    wanted = sorted(set(keys))
    if len(wanted) < 2 or not is_remote(store):
        return {key: fn(key) for key in wanted}
    futures = {key: submit(functools.partial(fn, key)) for key in wanted}
    return {key: future.result() for key, future in futures.items()}


def stat_all(store: Store, keys: Iterable[str]) -> dict[str, ObjectInfo | None]:
    """`store.stat` of every key; concurrently on a remote store."""
    return map_all(store, store.stat, keys)


def run_all(store: Store, actions: Iterable[Callable[[], object]]) -> None:
    """Run independent `actions` on `store`: one after another on a local store, concurrently
    on a remote one; every action has finished when this returns or raises (the first error)."""
    pending = list(actions)
    if len(pending) < 2 or not is_remote(store):
        for action in pending:
            action()
        return
    futures = [submit(action) for action in pending]
    wait(futures)
    for future in futures:
        future.result()
