"""Store benchmark: put / get / list latency and throughput, LocalStore against S3Store.

For small (1 KiB), shard-sized (10 KiB) and artifact-sized (10 MiB) objects, one thread:

- put: `Store.put` of distinct keys in one directory (LocalStore with fsync, as the server
  writes; S3: one PUT, or a multipart upload above `--multipart-mib`);
- get: `Store.get` of each key;
- list: `Store.file_sizes` of the directory (what every index run does per subdir).

S3Store talks to moto's S3 server (`python -m moto.server`, a separate process on 127.0.0.1,
tests/s3server.py). moto is an emulator written in Python that keeps objects in its own
memory: its numbers measure our client path plus moto, not AWS (where a request costs tens of
milliseconds of network and S3 time, and bandwidth is per connection). Prints one JSON document.

    .venv/bin/python benchmarks/storage.py [--small-count 500] [--large-count 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the S3 server helper is the tests' own

from tests.s3server import s3_server  # noqa: E402

from stockyard.storage import LocalStore, Store  # noqa: E402

SIZES = {"1KiB": 1 << 10, "10KiB": 10 << 10, "10MiB": 10 << 20}


def _latencies(operation: Any, keys: list[str]) -> list[float]:
    out = []
    for key in keys:
        start = time.perf_counter()
        operation(key)
        out.append(time.perf_counter() - start)
    return out


def _summary(latencies: list[float], size: int) -> dict[str, float]:
    total = sum(latencies)
    ordered = sorted(latencies)
    return {
        "ops_per_s": round(len(latencies) / total, 1),
        "mib_per_s": round(len(latencies) * size / total / (1 << 20), 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
    }


def _measure(store: Store, label: str, size: int, count: int) -> dict[str, Any]:
    data = os.urandom(size)
    keys = [f"{label}/obj-{i:05d}.conda" for i in range(count)]
    puts = _latencies(lambda key: store.put(key, data), keys)
    gets = _latencies(lambda key: store.get(key), keys)
    lists = _latencies(lambda _: store.file_sizes(label), ["x"] * 5)
    for key in keys:
        store.delete(key)
    return {
        "count": count,
        "put": _summary(puts, size),
        "get": _summary(gets, size),
        "list_ms": round(statistics.median(lists) * 1000, 3),
    }


def _run(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    for label, size in SIZES.items():
        count = args.large_count if size >= 1 << 20 else args.small_count
        out[label] = _measure(store, label, size, count)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small-count", type=int, default=500)
    parser.add_argument("--large-count", type=int, default=10)
    parser.add_argument("--multipart-mib", type=int, default=64)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "note": (
            "S3 numbers are S3Store against moto's S3 server, an in-memory Python emulator in "
            "another process on 127.0.0.1: not AWS's latency or bandwidth"
        ),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="stockyard-bench-") as tmp:
        result["local"] = _run(LocalStore(Path(tmp)), args)
    with s3_server() as server:
        server.create_bucket("bench")
        threshold = args.multipart_mib << 20
        store = server.store("bench", "b", multipart_threshold=threshold)
        result["s3_moto"] = _run(store, args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
