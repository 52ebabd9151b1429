"""Upload metrics: outcomes, publish latency per channel, batch sizes and the queue depth of the
group-commit batcher."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from stockyard.index.commit import PublishPending
from stockyard.server.observability import upload_outcome
from stockyard.server.upload_batch import UploadBatcher
from stockyard.server.uploads import InvalidUpload, LicenseRefused, UploadTimeout
from stockyard.types import errors
from tests.server.artifacts import make_artifact
from tests.server.conftest import UPLOAD_LIMIT
from tests.server.uploading import quetz_upload


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def waiting(self, count: int) -> None:
        self.events.append(("waiting", count))

    def committed(self, size: int, seconds: float) -> None:
        assert seconds >= 0
        self.events.append(("committed", size))


def test_batcher_reports_queue_depth_and_batches() -> None:
    """While a batch commits, later uploads wait (the gauge counts them), then go together."""
    release = threading.Event()
    first_started = threading.Event()

    def commit(take: Any) -> list[Any]:
        uploads = take()
        if uploads == ["a"]:
            first_started.set()
            release.wait(10)
        return list(uploads)

    recorder = _Recorder()
    batcher = UploadBatcher(commit, recorder)

    async def run() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit("a"))  # type: ignore[arg-type]
        await asyncio.to_thread(first_started.wait, 10)
        later = [asyncio.ensure_future(batcher.submit(x)) for x in "bc"]  # type: ignore[arg-type]
        await asyncio.sleep(0)
        release.set()
        return await asyncio.gather(first, *later)

    assert asyncio.run(run()) == ["a", "b", "c"]
    assert recorder.events == [
        ("waiting", 1),
        ("waiting", 0),
        ("waiting", 1),
        ("waiting", 2),
        ("committed", 1),
        ("waiting", 0),
        ("committed", 2),
    ]


def test_uploads_arriving_during_the_wait_for_the_lock_join_the_batch() -> None:
    """The batch is taken once the lock is held: one publish for everything that waited."""
    waiting_for_lock = threading.Event()
    lock_free = threading.Event()
    batches: list[list[Any]] = []

    def commit(take: Any) -> list[Any]:
        waiting_for_lock.set()
        lock_free.wait(10)  # another replica publishes meanwhile
        uploads = take()
        batches.append(uploads)
        return list(uploads)

    batcher = UploadBatcher(commit, _Recorder())

    async def run() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit("a"))  # type: ignore[arg-type]
        await asyncio.to_thread(waiting_for_lock.wait, 10)
        later = [asyncio.ensure_future(batcher.submit(x)) for x in "bc"]  # type: ignore[arg-type]
        await asyncio.sleep(0)
        lock_free.set()
        return await asyncio.gather(first, *later)

    assert asyncio.run(run()) == ["a", "b", "c"]
    assert batches == [["a", "b", "c"]]


def test_a_failed_batch_is_not_a_publish() -> None:
    def commit(_take: Any) -> list[Any]:
        raise errors.LockTimeout("busy")  # before taking: what waits fails with it

    recorder = _Recorder()
    batcher = UploadBatcher(commit, recorder)
    with pytest.raises(errors.LockTimeout):
        asyncio.run(batcher.submit("a"))  # type: ignore[arg-type]
    assert recorder.events == [("waiting", 1), ("waiting", 0)]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, "accepted"),
        (errors.Conflict("exists"), "conflict"),
        (errors.SizeLimitExceeded("x.conda", "too big"), "too-large"),
        (errors.InvalidArtifact("x.conda", "truncated"), "rejected-invalid"),
        (errors.UnsafeArchive("x.conda", "../"), "rejected-invalid"),
        (errors.HashMismatch("sha256"), "rejected-invalid"),
        (InvalidUpload("no file part"), "rejected-invalid"),
        (LicenseRefused("GPL"), "rejected"),
        (errors.Unauthorized("no token"), "denied"),
        (errors.Forbidden("read only"), "denied"),
        (errors.NotFound("no channel"), "denied"),
        (UploadTimeout("stalled"), "timeout"),
        (errors.LockTimeout("busy"), "busy"),
        (PublishPending("stored"), "publish-pending"),
        (ClientDisconnect(), "disconnected"),
        (RuntimeError("bug"), "error"),
    ],
)
def test_upload_outcomes(error: BaseException | None, outcome: str) -> None:
    assert upload_outcome(error) == outcome


def test_upload_metrics_on_the_server(client, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    artifact = make_artifact(tmp_path, "alpha")
    assert quetz_upload(client, "main", artifact, write_token).status_code == 201
    assert quetz_upload(client, "main", artifact, write_token).status_code == 409
    big = tmp_path / "big-1.0-0.conda"
    big.write_bytes(b"\0" * (UPLOAD_LIMIT + 1))
    assert quetz_upload(client, "main", big, write_token).status_code == 413
    text = client.get("/metrics").text
    for outcome in ("accepted", "conflict", "too-large"):
        assert f'stockyard_uploads_total{{outcome="{outcome}",protocol="quetz"}} 1.0' in text
    # Both the accepted upload and the conflict went through a batch (judged under the lock).
    assert 'stockyard_publish_seconds_count{channel="main"} 2.0' in text
    assert "stockyard_upload_batch_size_count 2.0" in text
    assert 'stockyard_upload_queue_depth{channel="main"} 0.0' in text
    assert "stockyard_upload_publish_seconds_count 1.0" in text


def test_jobs_by_state_from_the_catalog(client, catalog) -> None:  # type: ignore[no-untyped-def]
    text = client.get("/metrics").text
    for state, count in catalog.job_counts().items():
        assert f'stockyard_jobs{{state="{state}"}} {float(count)}' in text
    assert 'stockyard_jobs{state="queued"}' in text


def test_metrics_answer_without_the_catalog(client, app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    state = app.state.stockyard
    real = state.catalog.engine, state.catalog.reader
    broken = create_engine(f"sqlite:///{tmp_path}/missing/dir/catalog.db")
    state.catalog.engine = state.catalog.reader = broken
    try:
        response = client.get("/metrics")
    finally:
        state.catalog.engine, state.catalog.reader = real
    assert response.status_code == 200
    assert "stockyard_http_requests_total" in response.text
    assert "stockyard_jobs" not in response.text
