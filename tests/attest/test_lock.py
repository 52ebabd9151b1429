"""The attestation sidecars' writers lock: one writer at a time on every machine writing the
channel's store (a file lock, or a PostgreSQL advisory lock when replicas share the catalog),
and never the publish lock (attaching an attestation never waits for a publish)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from stockyard.attest.store import attestation_lock
from stockyard.catalog.coordination import PostgresChannelLocks
from stockyard.index.workspace import ChannelWorkspace
from stockyard.types.errors import LockTimeout

PG_URL = os.environ.get("STOCKYARD_TEST_PG_URL")


@pytest.mark.parametrize("shared", [False, True], ids=["file-lock", "postgresql"])
def test_one_writer_at_a_time_apart_from_publishing(shared: bool, tmp_path: Path) -> None:
    locks = None
    if shared:
        if not PG_URL:
            pytest.skip("STOCKYARD_TEST_PG_URL not set (scripts/test.sh starts PostgreSQL)")
        locks = PostgresChannelLocks(PG_URL)
    name = f"chan-{secrets.token_hex(4)}"
    here = ChannelWorkspace(tmp_path / "a", locks, name)
    # Another replica: its own working area (another machine) with a shared catalog.
    there = ChannelWorkspace(tmp_path / ("b" if shared else "a"), locks, name)
    try:
        with attestation_lock(here):
            with pytest.raises(LockTimeout), attestation_lock(there, timeout=0.2):
                pass
            with there.lock(5):  # the channel's publish lock is another lock
                pass
        with attestation_lock(there, timeout=5):  # free again
            pass
    finally:
        if locks is not None:
            locks.dispose()
