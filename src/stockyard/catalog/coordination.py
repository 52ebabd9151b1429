"""Coordination between processes and machines that share one PostgreSQL catalog.

- `PostgresChannelLocks`: one writer per channel across every replica, with a session-level
  advisory lock (`pg_advisory_lock`: waiters queue in PostgreSQL) held on a connection of its
  own for as long as the writer works. PostgreSQL releases it when that session ends, so a
  replica killed with `kill -9` never leaves a channel locked (its TCP connection closes).
- `notify_published` / `PublishListener`: a commit that published a channel says so with
  `NOTIFY stockyard_published, '<channel>'`; every replica listens and drops what it cached of
  that channel's files (server/remote_files.py), so a publish is visible everywhere at once.
- `on_local_publish`: the same news inside one process, for any catalog (SQLite too).

SQLite deployments have one machine: they keep the file lock of `stockyard.index.lock` and need
no notifications.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from stockyard.types.errors import LockTimeout

log = logging.getLogger("stockyard.catalog")

#: The NOTIFY channel of publishes; the payload is the catalog channel name.
PUBLISH_CHANNEL: Final = "stockyard_published"
_LOCK_NAMESPACE: Final = b"stockyard:channel-lock:"
#: SQLSTATE of a lock wait that ran out of `lock_timeout`.
_LOCK_NOT_AVAILABLE: Final = "55P03"


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql", "postgres:"))


def advisory_key(name: str) -> int:
    """A signed 64-bit key per channel name (PostgreSQL's advisory lock key space)."""
    digest = hashlib.sha256(_LOCK_NAMESPACE + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _driver_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class PostgresChannelLocks:
    """Per-channel writer locks shared by every process using the same PostgreSQL database."""

    def __init__(self, url: str) -> None:
        # No pool: a lock's connection must end with the lock, never go back to a pool where a
        # later checkout could find the lock still held.
        self.engine: Engine = create_engine(_driver_url(url), poolclass=NullPool)

    @contextlib.contextmanager
    def hold(self, name: str, timeout: float) -> Iterator[None]:
        key = advisory_key(name)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not self._acquire(conn, key, timeout):
                raise _held_too_long(name, timeout)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):  # a dead connection released it already
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})

    @contextlib.contextmanager
    def hold_unless(
        self, name: str, timeout: float, settled: Callable[[], bool], poll: float = 0.025
    ) -> Iterator[bool]:
        """Wait for the channel's lock unless `settled()` becomes true first (another replica
        committed what this one waits to commit): yields True holding the lock, or False.

        The wait goes in slices of `poll` seconds, checking `settled` between them, on one
        connection; raises LockTimeout when neither happened within `timeout`.
        """
        key = advisory_key(name)
        deadline = time.monotonic() + timeout
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            self._acquire(conn, key, poll, wait=False)  # the session's settings only
            while True:
                left = deadline - time.monotonic()
                if self._wait_once(conn, key) if left > 0 else self._try(conn, key):
                    break
                if settled():
                    yield False
                    return
                if left <= 0:
                    raise _held_too_long(name, timeout)
            try:
                yield True
            finally:
                with contextlib.suppress(Exception):  # a dead connection released it already
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})

    @classmethod
    def _acquire(cls, conn: Connection, key: int, timeout: float, *, wait: bool = True) -> bool:
        """Wait in PostgreSQL's own lock queue (granted the moment the holder lets go, in
        arrival order) rather than polling; `lock_timeout` bounds the wait. With `wait` False
        only the session's settings are made (the caller waits in slices)."""
        if timeout <= 0:  # lock_timeout 0 would mean "wait forever"
            return cls._try(conn, key)
        conn.execute(
            text("SELECT set_config('lock_timeout', :ms, false)"),
            {"ms": f"{max(1, round(timeout * 1000))}ms"},
        )
        # A waiter whose process died stops waiting within a second (PostgreSQL 14+), instead
        # of taking the lock for a moment when its turn comes.
        with contextlib.suppress(DBAPIError):
            conn.execute(text("SELECT set_config('client_connection_check_interval', '1s', false)"))
        return cls._wait_once(conn, key) if wait else False

    @staticmethod
    def _try(conn: Connection, key: int) -> bool:
        return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())

    @staticmethod
    def _wait_once(conn: Connection, key: int) -> bool:
        """Wait for the lock up to the session's `lock_timeout`."""
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                return False
            raise
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def _held_too_long(name: str, timeout: float) -> LockTimeout:
    return LockTimeout(
        f"another replica is publishing channel {name!r} (its PostgreSQL advisory lock was "
        f"held for {timeout:g}s)",
        hint="Retry shortly; if it never frees, look for a stuck process in pg_locks "
        "(locktype 'advisory').",
    )


_locks: dict[str, PostgresChannelLocks] = {}
_locks_guard = threading.Lock()


def channel_locks_for(db_url: str | None) -> PostgresChannelLocks | None:
    """The shared lock service of a PostgreSQL catalog (one per URL and process); None for
    SQLite, whose deployments use the file lock."""
    if not is_postgres_url(db_url):
        return None
    assert db_url is not None
    with _locks_guard:
        locks = _locks.get(db_url)
        if locks is None:
            locks = _locks[db_url] = PostgresChannelLocks(db_url)
        return locks


# --- publish notifications ---------------------------------------------------------------------

_local_listeners: list[Callable[[str], None]] = []


def on_local_publish(callback: Callable[[str], None]) -> Callable[[], None]:
    """Call `callback(channel_name)` after each publish made by this process; returns the
    function that unsubscribes it."""
    _local_listeners.append(callback)

    def unsubscribe() -> None:
        with contextlib.suppress(ValueError):
            _local_listeners.remove(callback)

    return unsubscribe


def notify_published(engine: Engine, channel_name: str) -> None:
    """Tell this process and, on PostgreSQL, every replica that `channel_name` was published.
    Never raises: a lost notification costs a cache refresh delay, not a publish."""
    for callback in list(_local_listeners):
        try:
            callback(channel_name)
        except Exception:  # a listener's bug must not fail the publish that already happened
            log.exception("publish listener failed")
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.begin() as conn:
            conn.execute(
                text("SELECT pg_notify(:c, :n)"), {"c": PUBLISH_CHANNEL, "n": channel_name}
            )
    except Exception as exc:
        log.warning("could not NOTIFY the publish of %s: %s", channel_name, exc)


class PublishListener:
    """A thread that LISTENs for publishes of every replica and calls `callback(channel)`.

    On a lost connection it reconnects with backoff and calls `on_gap()` (notifications sent
    while it was away are lost: the caller must treat everything it cached as stale). `healthy`
    says whether it is listening right now; callers cache for less time when it is not.
    """

    def __init__(
        self,
        url: str,
        callback: Callable[[str], None],
        on_gap: Callable[[], None],
        *,
        name: str = "stockyard-publish-listener",
    ) -> None:
        self.url = _driver_url(url)
        self.callback = callback
        self.on_gap = on_gap
        self.healthy = False
        self._stop = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> PublishListener:
        self._thread.start()
        return self

    def wait_until_listening(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.healthy and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.healthy

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _connect(self) -> Any:
        import psycopg
        from sqlalchemy.engine import make_url

        conninfo = (
            make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        conn.execute(f"LISTEN {PUBLISH_CHANNEL}")
        return conn

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except Exception as exc:
                log.warning("publish listener cannot connect: %s", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            self.healthy = True
            self.on_gap()  # whatever was published while we were not listening
            try:
                with conn:
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=None):
                            self.callback(note.payload)
                            if self._stop.is_set():
                                break
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("publish listener lost its connection: %s", exc)
            finally:
                self.healthy = False
