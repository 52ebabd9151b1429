"""PostgreSQL advisory locks and publish notifications between replicas (real PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from stockyard.catalog import Catalog
from stockyard.catalog.coordination import (
    PostgresChannelLocks,
    PublishListener,
    advisory_key,
    channel_locks_for,
    on_local_publish,
)
from stockyard.types.errors import LockTimeout
from tests.catalog.conftest import fresh_pg_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database with the catalog schema (no SQLite variant: these are
    PostgreSQL features)."""
    with fresh_pg_database() as url:
        Catalog.open(url).close()
        yield url


def test_keys_are_stable_signed_64_bit_and_distinct() -> None:
    assert advisory_key("main") == advisory_key("main")
    assert advisory_key("main") != advisory_key("main/label/rc")
    assert -(2**63) <= advisory_key("x") < 2**63


def test_sqlite_catalogs_have_no_shared_locks() -> None:
    assert channel_locks_for(None) is None
    assert channel_locks_for("sqlite:////tmp/x.db") is None


def test_one_holder_per_channel_and_a_timeout_that_says_why(pg_url: str) -> None:
    first, second = PostgresChannelLocks(pg_url), PostgresChannelLocks(pg_url)
    try:
        with first.hold("main", timeout=5):
            with (
                pytest.raises(LockTimeout, match="another replica is publishing"),
                second.hold("main", timeout=0.3),
            ):
                pass
            with second.hold("other", timeout=1):  # other channels are not blocked
                pass
        with second.hold("main", timeout=1):  # released on exit
            pass
    finally:
        first.dispose()
        second.dispose()


def test_a_zero_timeout_tries_once_and_never_waits_forever(pg_url: str) -> None:
    locks = PostgresChannelLocks(pg_url)
    try:
        with locks.hold("main", timeout=5):
            started = time.monotonic()
            with pytest.raises(LockTimeout), locks.hold("main", timeout=0):
                pass
            assert time.monotonic() - started < 5  # lock_timeout 0 would have meant forever
        with locks.hold("main", timeout=0):  # free: taken at once
            pass
    finally:
        locks.dispose()


def test_waiting_writers_get_the_lock_in_arrival_order(pg_url: str) -> None:
    locks = PostgresChannelLocks(pg_url)
    order: list[int] = []
    with locks.hold("main", timeout=5):
        threads = []
        for i in range(3):
            thread = threading.Thread(target=lambda i=i: _hold_and_note(locks, order, i))
            thread.start()
            threads.append(thread)
            _wait_for_waiters(locks, i + 1)  # queued in PostgreSQL before the next one starts
    for thread in threads:
        thread.join(20)
    locks.dispose()
    assert order == [0, 1, 2]


def _wait_for_waiters(locks: PostgresChannelLocks, count: int) -> None:
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND "
        "database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    deadline = time.monotonic() + 20
    with locks.engine.connect() as conn:
        while conn.execute(query).scalar() != count:
            assert time.monotonic() < deadline, f"never {count} waiting"
            time.sleep(0.02)


def _hold_and_note(locks: PostgresChannelLocks, order: list[int], i: int) -> None:
    with locks.hold("main", timeout=15):
        order.append(i)


def test_a_waiting_writer_gets_the_lock_when_it_is_released(pg_url: str) -> None:
    locks = PostgresChannelLocks(pg_url)
    order: list[str] = []
    held = threading.Event()

    def holder() -> None:
        with locks.hold("main", timeout=5):
            held.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    with locks.hold("main", timeout=10):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]
    locks.dispose()


def test_a_killed_holder_releases_the_lock(pg_url: str) -> None:
    script = (
        "import sys, time\n"
        "from stockyard.catalog.coordination import PostgresChannelLocks\n"
        "with PostgresChannelLocks(sys.argv[1]).hold('main', timeout=5):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, pg_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        locks = PostgresChannelLocks(pg_url)
        with pytest.raises(LockTimeout), locks.hold("main", timeout=0.2):
            pass
        process.kill()  # SIGKILL: no cleanup runs; the session ends with the connection
        process.wait(10)
        with locks.hold("main", timeout=10):
            pass
        locks.dispose()
    finally:
        process.kill()


def test_publishes_reach_listeners_of_other_connections(pg_url: str) -> None:
    received: list[str] = []
    gaps: list[int] = []
    arrived = threading.Event()

    def on_publish(name: str) -> None:
        received.append(name)
        arrived.set()

    listener = PublishListener(pg_url, on_publish, lambda: gaps.append(1)).start()
    local: list[str] = []
    unsubscribe = on_local_publish(local.append)
    catalog = Catalog.open(pg_url)
    try:
        assert listener.wait_until_listening(10)
        assert gaps == [1]  # a (re)connection asks the owner to treat its caches as stale
        catalog.notify_published("main/label/rc")
        assert arrived.wait(10)
        assert received == ["main/label/rc"]
        assert local == ["main/label/rc"]
    finally:
        unsubscribe()
        catalog.close()
        listener.stop()
    assert not listener.healthy


def test_a_wait_ends_without_the_lock_once_the_work_is_settled(pg_url: str) -> None:
    holder, waiter = PostgresChannelLocks(pg_url), PostgresChannelLocks(pg_url)
    settle_at = time.monotonic() + 0.3
    try:
        with holder.hold("main", timeout=5):
            started = time.monotonic()
            with waiter.hold_unless("main", 10, lambda: time.monotonic() >= settle_at) as held:
                assert held is False
            assert time.monotonic() - started < 5  # did not wait for the holder
            with (
                pytest.raises(LockTimeout, match="another replica is publishing"),
                waiter.hold_unless("main", 0.2, lambda: False),
            ):
                pass
        with waiter.hold_unless("main", 5, lambda: False) as held:
            assert held is True
            # really held: a second writer cannot have it
            with pytest.raises(LockTimeout), holder.hold("main", timeout=0):
                pass
    finally:
        holder.dispose()
        waiter.dispose()
