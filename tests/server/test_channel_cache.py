"""The channel cache loads an expired channel once, however many requests want it at once."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from stockyard.catalog import Channel
from stockyard.server.state import ChannelCache, ChannelView

VIEW = ChannelView(Channel(1, "main", False, None, 0), max_age=30)


def test_concurrent_misses_share_one_load() -> None:
    cache = ChannelCache(ttl=60)
    calls = []

    def load() -> ChannelView:
        calls.append(threading.get_ident())
        time.sleep(0.05)  # a catalog query, slow enough for every caller to arrive meanwhile
        cache.put(VIEW)
        return VIEW

    async def many() -> list[ChannelView | None]:
        return await asyncio.gather(*(cache.refreshed("main", load) for _ in range(20)))

    assert asyncio.run(many()) == [VIEW] * 20
    assert len(calls) == 1
    assert cache.get("main") == VIEW


def test_a_failed_load_raises_once_and_the_next_request_loads_again() -> None:
    cache = ChannelCache(ttl=60)
    calls = 0

    def failing() -> ChannelView:
        nonlocal calls
        calls += 1
        time.sleep(0.05)
        raise OSError("catalog unreachable")

    async def many() -> list[object]:
        return await asyncio.gather(
            *(cache.refreshed("main", failing) for _ in range(5)), return_exceptions=True
        )

    outcomes = asyncio.run(many())
    assert calls == 1
    assert sum(isinstance(o, OSError) for o in outcomes) == 1
    assert outcomes.count(None) == 4  # the waiters look for themselves (the route's _lookup)
    with pytest.raises(OSError):
        asyncio.run(cache.refreshed("main", failing))
    assert calls == 2


def test_no_caching_still_answers() -> None:
    cache = ChannelCache(ttl=0)  # channel_cache_seconds = 0: every request asks the catalog
    loads = 0

    def load() -> ChannelView:
        nonlocal loads
        loads += 1
        cache.put(VIEW)
        return VIEW

    for _ in range(3):
        assert asyncio.run(cache.refreshed("main", load)) == VIEW
    assert loads == 3
    assert cache.get("main") is None
