"""The channel's change ledger: every publish recorded, bounded, and honest about gaps."""

from __future__ import annotations

import logging

import pytest

from stockyard.cdn import ledger as ledger_module
from stockyard.cdn.ledger import (
    LEDGER_KEY,
    changes_since,
    read_ledger,
    record_publish,
)
from stockyard.storage import Store

T0 = 1_700_000_000_000


def test_records_publishes_in_the_store(store: Store) -> None:
    assert read_ledger(store).revision == 0
    first = record_publish(store, ["noarch/repodata.json", "noarch/repodata.json"], now_ms=T0)
    second = record_publish(store, ["linux-64/a-1-0.conda"], now_ms=T0 + 5)
    assert (first.revision, second.revision) == (T0, T0 + 5)
    assert first.keys == ("noarch/repodata.json",)
    assert first.published_at == "2023-11-14T22:13:20.000+00:00"
    ledger = read_ledger(store)
    assert [e.revision for e in ledger.entries] == [T0, T0 + 5]
    assert store.stat(LEDGER_KEY) is not None

    last = changes_since(ledger)
    assert last.revision == T0 + 5 and last.keys == ["linux-64/a-1-0.conda"] and last.complete
    both = changes_since(ledger, T0 - 1)
    assert both.keys == ["linux-64/a-1-0.conda", "noarch/repodata.json"] and both.complete
    newer = changes_since(ledger, T0)
    assert newer.keys == ["linux-64/a-1-0.conda"] and newer.complete
    assert changes_since(ledger, T0 + 5).keys == []


def test_revisions_increase_with_a_clock_going_back(store: Store) -> None:
    first = record_publish(store, ["a"], now_ms=T0)
    second = record_publish(store, ["b"], now_ms=T0 - 60_000)  # a replica's clock behind
    assert second.revision == first.revision + 1


def test_old_entries_are_dropped_and_reported(store: Store, monkeypatch) -> None:
    monkeypatch.setattr(ledger_module, "MAX_KEYS", 5)
    for i in range(4):
        record_publish(store, [f"noarch/f{i}-a", f"noarch/f{i}-b"], now_ms=T0 + i)
    ledger = read_ledger(store)
    # The newest entries whose keys fit: 2 + 2 (a third would make 6).
    assert [e.revision for e in ledger.entries] == [T0 + 2, T0 + 3]
    assert ledger.covers_after == T0 + 1
    assert changes_since(ledger, T0 + 1).complete
    gap = changes_since(ledger, T0)
    assert not gap.complete
    assert gap.keys == ["noarch/f2-a", "noarch/f2-b", "noarch/f3-a", "noarch/f3-b"]
    # The newest publish is kept whole, however many keys it changed.
    big = record_publish(store, [f"k{i}" for i in range(9)], now_ms=T0 + 10)
    assert read_ledger(store).entries == (big,)


def test_a_revision_the_ledger_never_issued_is_incomplete(store: Store) -> None:
    """A script remembers revision R; the ledger was restored from an older backup (or lost)."""
    assert changes_since(read_ledger(store), 0).complete  # nothing published, nothing missed
    assert not changes_since(read_ledger(store), T0).complete
    record_publish(store, ["x"], now_ms=T0)
    assert not changes_since(read_ledger(store), T0 + 100).complete
    # A fresh ledger covers only what it recorded.
    assert not changes_since(read_ledger(store), 5).complete


def test_an_unreadable_ledger_never_blocks_a_publish(store: Store, caplog) -> None:
    store.put(LEDGER_KEY, b"{not json")
    with caplog.at_level(logging.WARNING, logger="stockyard.cdn"):
        assert read_ledger(store).entries == ()
        entry = record_publish(store, ["noarch/repodata.json"], now_ms=T0)
    assert "unreadable" in caplog.text
    assert read_ledger(store).entries == (entry,)


@pytest.mark.parametrize("since", [None, T0])
def test_changes_of_an_empty_ledger(since: int | None, store: Store) -> None:
    changes = changes_since(read_ledger(store), since)
    assert changes.entries == () and changes.revision == 0
