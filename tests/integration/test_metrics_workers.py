"""`stockyard serve --workers 2`: /metrics of either worker reports the sum of both processes."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import admin_token, free_port, live_server

pytestmark = pytest.mark.integration

ACCEPTED = 'stockyard_uploads_total{outcome="accepted",protocol="quetz"}'
#: Rounds of concurrent uploads before giving up on the kernel spreading them over both workers.
MAX_ROUNDS = 12
CONCURRENT = 6


def _accepted_per_process(directory: Path) -> dict[int, float]:
    """Accepted uploads as each worker process counted them, read from its own metric file."""
    counts: dict[int, float] = {}
    for file in directory.glob("counter_*.db"):
        pid = int(file.stem.rpartition("_")[2])
        counts[pid] = sum(
            sample.value
            for metric in MultiProcessCollector.merge([str(file)])
            for sample in metric.samples
            if sample.name == "stockyard_uploads_total" and sample.labels["outcome"] == "accepted"
        )
    return counts


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    assert match, f"{sample} not in /metrics:\n{text}"
    return float(match.group(1))


def _upload(url: str, token: str, artifact: Path) -> int:
    # A client per upload: a new connection, which either worker may accept.
    with httpx.Client(timeout=60) as client:
        response = client.post(
            f"{url}/api/channels/main/upload/{artifact.name}",
            params={"sha256": sha256_of(artifact)},
            content=artifact.read_bytes(),
            headers={"X-API-Key": token},
        )
    return response.status_code


def _stale_counter(directory: Path) -> None:
    """A metric file a previous run could have left: 1000 accepted uploads of a dead process."""
    directory.mkdir(parents=True)
    stale = MmapedDict(str(directory / "counter_999999.db"))
    key = mmap_key(
        "stockyard_uploads",
        "stockyard_uploads_total",
        ("protocol", "outcome"),
        ("quetz", "accepted"),
        "stale",
    )
    stale.write_value(key, 1000.0, 0.0)
    stale.close()


def test_two_workers_report_the_sum(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    directory = data / "prometheus" / str(port)
    _stale_counter(directory)
    artifacts = tmp_path / "artifacts"
    with live_server(data, workers=2, port=port) as server:
        token = admin_token(server.banner)
        assert not (directory / "counter_999999.db").exists()  # emptied at start
        uploaded = 0
        with ThreadPoolExecutor(CONCURRENT) as pool:
            for round_ in range(MAX_ROUNDS):
                batch = [make_artifact(artifacts, f"pkg{round_}x{i}") for i in range(CONCURRENT)]
                codes = list(pool.map(lambda a: _upload(server.url, token, a), batch))
                assert codes == [201] * CONCURRENT
                uploaded += CONCURRENT
                per_process = _accepted_per_process(directory)
                if len([n for n in per_process.values() if n > 0]) >= 2:
                    break
            else:
                pytest.fail(f"uploads never reached both workers: {per_process}")
        # A repeat is a conflict, counted whichever worker takes it.
        assert _upload(server.url, token, batch[0]) == 409

        assert sum(per_process.values()) == uploaded
        for _ in range(4):  # whichever worker answers, it reports both
            text = httpx.get(f"{server.url}/metrics").text
            assert _value(text, ACCEPTED) == uploaded
            conflicts = 'stockyard_uploads_total{outcome="conflict",protocol="quetz"}'
            assert _value(text, conflicts) == 1
            assert _value(text, "stockyard_upload_publish_seconds_count") == uploaded
            # The conflict was judged in a batch too (under the lock, with the catalog's state).
            assert _value(text, "stockyard_upload_batch_size_sum") == uploaded + 1
            batches = _value(text, 'stockyard_publish_seconds_count{channel="main"}')
            assert 2 <= batches <= uploaded + 1
            assert _value(text, 'stockyard_upload_queue_depth{channel="main"}') == 0
            assert "pid=" not in text  # gauges are summed over processes, not listed per pid
            assert _value(text, 'stockyard_jobs{state="running"}') == 0
