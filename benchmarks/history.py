"""Snapshots and as-of views on a large channel (issue 8 "Measure").

Fills a channel's catalog with `--records` records directly (benchmarks/scale_fill.py: about
40% in linux-64, so 400,000 of 1,000,000), publishes it once with `stockyard index`'s code, then
measures on linux-64:

- snapshot: `create_snapshot` (hard links of every published file and shard; the filled
  artifacts are catalog-only, so no artifact links are made: a real channel adds one link per
  artifact);
- as-of, first request: `render_as_of` at T = now (query the records available at T, patch,
  encode, write repodata.json and .zst to the cache);
- as-of, cached: the same T again (cache hit: a few queries to find the cache key);
- as-of, another T with the same last change (same bytes, cache hit).

Prints one JSON document:

    .venv/bin/python benchmarks/history.py [--records 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_fill import fill_catalog
from stockyard.catalog import Catalog, now_ms, sqlite_url
from stockyard.index.run import IndexOptions, catalog_channel_name, index_channel
from stockyard.index.workspace import STATE_DIR, ChannelWorkspace
from stockyard.snapshots import create_snapshot
from stockyard.timetravel import AsOfView, render_as_of


def _timed(function: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stockyard-bench-history-"))
    channel_dir = work / "big"
    channel_dir.mkdir()
    fill_seconds, _ = _timed(fill_catalog, channel_dir, args.records)
    publish_seconds, _ = _timed(index_channel, channel_dir, IndexOptions())
    catalog = Catalog.open(sqlite_url(channel_dir / STATE_DIR / "catalog.db"))
    channel = catalog.require_channel(catalog_channel_name("big"))
    snapshot_times = []
    for _ in range(args.repeat):
        seconds, row = _timed(create_snapshot, catalog, channel, ChannelWorkspace(channel_dir))
        snapshot_times.append(seconds)
    at = now_ms()
    view = AsOfView(channel, channel_dir, at)
    first, path = _timed(render_as_of, catalog, view, "linux-64")
    cached = [_timed(render_as_of, catalog, view, "linux-64")[0] for _ in range(args.repeat)]
    later = AsOfView(channel, channel_dir, at + 1)
    same_bytes, other = _timed(render_as_of, catalog, later, "linux-64")
    size = path.stat().st_size
    catalog.close()
    print(
        json.dumps(
            {
                "benchmark": "history",
                "command": "python benchmarks/history.py " + " ".join(sys.argv[1:]),
                "records_total": args.records,
                "linux_64_repodata_bytes": size,
                "fill_seconds": round(fill_seconds, 1),
                "first_publish_seconds": round(publish_seconds, 1),
                "snapshot_seconds": {
                    "median": round(statistics.median(snapshot_times), 3),
                    "all": [round(s, 3) for s in snapshot_times],
                    "records_in_snapshot": row.record_count,
                },
                "as_of_linux_64": {
                    "first_request_s": round(first, 3),
                    "cached_median_s": round(statistics.median(cached), 4),
                    "other_time_same_change_s": round(same_bytes, 4),
                    "same_file": other == path,
                },
                "loadavg": os.getloadavg(),
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
