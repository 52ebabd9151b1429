"""The purge webhook against a real HTTP receiver on 127.0.0.1: payload, retries, failures."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from stockyard.cdn.hooks import add_purge_sink, after_publish
from stockyard.cdn.ledger import LedgerEntry, read_ledger
from stockyard.cdn.urls import PurgeList
from stockyard.cdn.webhook import PurgeWebhook, RetryPolicy, merge
from stockyard.storage import LocalStore
from tests.cdn.receiver import purge_receiver
from tests.server.live import free_port

FAST = RetryPolicy(attempts=3, first_backoff=0.01, max_backoff=0.02, timeout=5)
SECRET = "sekrit-token-123"


def _entry(revision: int, *keys: str) -> LedgerEntry:
    return LedgerEntry(revision, "2024-01-01T00:00:00.000+00:00", keys)


def test_sends_the_purge_list() -> None:
    with purge_receiver() as receiver:
        webhook = PurgeWebhook(f"{receiver.url}?key={SECRET}", "https://conda.example.com/")
        try:
            webhook.submit_entry(
                "main/label/rc", _entry(42, "noarch/repodata.json", "noarch/x-1-0.conda")
            )
            [payload] = receiver.wait_for(lambda got: len(got) == 1)
        finally:
            webhook.stop()
    assert payload == {
        "channel": "main/label/rc",
        "urls": [
            "https://conda.example.com/main/label/rc/noarch/repodata.json",
            "https://conda.example.com/main/label/rc/noarch/x-1-0.conda",
        ],
        "surrogate_keys": ["main/label/rc/noarch"],
        "revision": 42,
    }
    path, headers, _, _ = receiver.requests[0]
    assert path == f"/purge?key={SECRET}"
    assert headers["content-type"] == "application/json"
    assert webhook.counts == {"sent": 1, "retried": 0, "failed": 0, "dropped": 0}


def test_retries_with_backoff_then_succeeds() -> None:
    with purge_receiver(statuses=[503, 429]) as receiver:
        webhook = PurgeWebhook(receiver.url, "http://h", retry=FAST)
        try:
            webhook.submit_entry("main", _entry(1, "channeldata.json"))
            receiver.wait_for(lambda got: len(got) == 1)
        finally:
            webhook.stop()
    assert [status for *_, status in receiver.requests] == [503, 429, 204]
    assert webhook.counts["sent"] == 1 and webhook.counts["retried"] == 2


def test_a_final_answer_is_not_retried(caplog) -> None:
    with purge_receiver(statuses=[400]) as receiver:
        webhook = PurgeWebhook(receiver.url, "http://h", retry=FAST)
        with caplog.at_level(logging.WARNING, logger="stockyard.cdn"):
            webhook.submit_entry("main", _entry(1, "channeldata.json"))
            webhook.stop(timeout=10)  # sends what is waiting first
        assert len(receiver.requests) == 1
    assert webhook.counts["failed"] == 1 and webhook.counts["sent"] == 0
    assert "HTTP 400" in caplog.text


def test_a_dead_receiver_is_logged_and_counted_never_with_its_url(caplog) -> None:
    url = f"http://127.0.0.1:{free_port()}/purge?token={SECRET}"  # nothing listens there
    webhook = PurgeWebhook(url, "http://h", retry=FAST)
    with caplog.at_level(logging.WARNING, logger="stockyard.cdn"):
        webhook.submit_entry("main", _entry(1, "channeldata.json"))
        webhook.stop(timeout=10)  # sends what is waiting first
    assert webhook.counts["failed"] == 1 and webhook.counts["retried"] == FAST.attempts - 1
    assert "CDN purge webhook failed for channel main" in caplog.text
    assert SECRET not in caplog.text and url not in caplog.text


def test_purges_waiting_together_are_merged_per_channel() -> None:
    with purge_receiver() as receiver:
        receiver.gate = threading.Event()  # the first request blocks the sender
        webhook = PurgeWebhook(receiver.url, "http://h")
        try:
            webhook.submit_entry("other", _entry(1, "channeldata.json"))
            webhook.submit_entry("main", _entry(2, "noarch/repodata.json"))
            webhook.submit_entry("main", _entry(3, "linux-64/repodata.json"))
            receiver.gate.set()
            got = receiver.wait_for(lambda got: {p["channel"] for p in got} == {"other", "main"})
        finally:
            webhook.stop()
    [main] = [p for p in got if p["channel"] == "main"]
    assert main["revision"] == 3
    assert main["surrogate_keys"] == ["main/linux-64", "main/noarch"]
    assert len(main["urls"]) == 2
    assert len(receiver.requests) == 2


def test_merge_keeps_channels_apart() -> None:
    a = PurgeList("a", ["u1"], ["a/noarch"], 1)
    b = PurgeList("b", ["u2"], [], 5)
    a2 = PurgeList("a", ["u3", "u1"], ["a/root"], 4)
    assert merge([a, b, a2]) == [PurgeList("a", ["u1", "u3"], ["a/noarch", "a/root"], 4), b]


def test_stopping_sends_what_is_waiting_then_takes_nothing() -> None:
    with purge_receiver() as receiver:
        webhook = PurgeWebhook(receiver.url, "http://h", delay=600)
        webhook.submit_entry("main", _entry(1, "channeldata.json"))
        webhook.stop()  # does not wait out the delay
        webhook.submit_entry("main", _entry(2, "channeldata.json"))
    assert [body["revision"] for *_, body, _ in receiver.requests] == [1]
    assert webhook.counts["sent"] == 1 and webhook.counts["dropped"] == 1


def test_stopping_gives_up_on_a_receiver_that_hangs() -> None:
    with purge_receiver() as receiver:
        receiver.gate = threading.Event()  # never answers until the test ends
        webhook = PurgeWebhook(receiver.url, "http://h", retry=FAST)
        webhook.submit_entry("main", _entry(1, "channeldata.json"))
        webhook.submit_entry("other", _entry(2, "channeldata.json"))
        webhook.stop(timeout=0.5)  # returns although the request hangs
        receiver.gate.set()
        assert webhook._thread is not None
        webhook._thread.join(10)
    # The purge in flight ends as it ends; the one after it is not sent any more.
    assert webhook.counts["dropped"] == 1
    assert [body["channel"] for *_, body, _ in receiver.requests] == ["main"]


class _BrokenStore(LocalStore):
    def put(self, key: str, data: bytes) -> None:
        raise OSError("disk full")


def test_after_publish_records_and_hands_over_and_never_raises(tmp_path: Path, caplog) -> None:
    store = LocalStore(tmp_path / "c", fsync=False)
    got: list[tuple[str, LedgerEntry]] = []

    def broken(channel: str, entry: LedgerEntry) -> None:
        raise RuntimeError("a sender's bug")

    removers = [add_purge_sink(broken), add_purge_sink(lambda c, e: got.append((c, e)))]
    try:
        assert after_publish(store, "main", []) is None  # nothing changed: nothing recorded
        assert got == [] and read_ledger(store).entries == ()
        entry = after_publish(store, "main", ["noarch/repodata.json"])
        assert entry is not None and read_ledger(store).entries == (entry,)
        assert got == [("main", entry)]
        # A ledger that cannot be written still gives a purge.
        with caplog.at_level(logging.WARNING, logger="stockyard.cdn"):
            unrecorded = after_publish(_BrokenStore(tmp_path / "d"), "x", ["channeldata.json"])
        assert unrecorded is not None and got[-1] == ("x", unrecorded)
        assert "could not record" in caplog.text
    finally:
        for remove in removers:
            remove()
