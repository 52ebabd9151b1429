"""Patch work for one added artifact in a channel patched by conda-forge's whole patch YAML set
(issue 8 §4): incremental (only the new record is patched; the other entries come from the
published patch_instructions.json) against regenerating the subdir's instructions from every
record (what each commit did before), in the same run.

Synthesizes `--count` artifacts (real metadata from tests/data), indexes them with the YAML set
(tests/data/conda-forge-patches), then `--rounds` times adds one artifact and indexes again,
once with the incremental path and once with it turned off, reporting the `commit` phase of
`stockyard index --json` (instructions + publish) and the whole run. Prints one JSON document:

    .venv/bin/python benchmarks/patch_incremental.py [--count 13369] [--rounds 3]
        [--scale-records 1000000]

With `--scale-records N`, the channel's catalog is first filled with N records directly
(benchmarks/scale_fill.py, as a mirror ingests them; ~40% in linux-64), so the same
measurements run on a channel of N + count records.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from stockyard.index import incremental_patches  # noqa: E402
from stockyard.index.commit import ChannelCommit  # noqa: E402
from stockyard.index.run import IndexOptions, index_channel  # noqa: E402
from stockyard.testing.corpus import synthesize_channel  # noqa: E402

RULES = ROOT / "tests" / "data" / "conda-forge-patches" / "recipe" / "patch_yaml"


_PATCH_SECONDS: list[float] = []
_source_instructions = ChannelCommit._source_instructions


def _timed_source_instructions(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    try:
        return _source_instructions(self, *args, **kwargs)
    finally:
        _PATCH_SECONDS.append(time.perf_counter() - started)


ChannelCommit._source_instructions = _timed_source_instructions  # type: ignore[method-assign]


def _index(channel: Path) -> dict[str, Any]:
    """Whole run, its commit phase, and the patch work (instructions of every subdir)."""
    _PATCH_SECONDS.clear()
    started = time.perf_counter()
    result = index_channel(channel, IndexOptions(patch_source=str(RULES)))
    return {
        "seconds": time.perf_counter() - started,
        "commit": result.timings.get("commit", 0.0),
        "patch": sum(_PATCH_SECONDS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=13369)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale-records", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stockyard-bench-patchinc-"))
    channel = work / "chan"
    paths = synthesize_channel(channel, args.count + 2 * args.rounds, seed=1)
    spare = paths[args.count :]
    for path in spare:
        path.rename(work / path.name)
    if args.scale_records:
        from scale_fill import fill_catalog

        fill_catalog(channel, args.scale_records)
    cold = _index(channel)
    runs: dict[str, list[dict[str, Any]]] = {"incremental": [], "regenerate": []}
    original = incremental_patches._trusted_base
    for _round in range(args.rounds):
        for mode in ("incremental", "regenerate"):
            spare_path = spare.pop()
            os.rename(work / spare_path.name, spare_path)
            if mode == "regenerate":
                incremental_patches._trusted_base = lambda *a, **k: None  # type: ignore[assignment]
            try:
                runs[mode].append(_index(channel))
            finally:
                incremental_patches._trusted_base = original
    subdir = max(channel.iterdir(), key=lambda p: len(list(p.glob("*.conda"))))
    instructions = json.loads((subdir / "patch_instructions.json").read_text())
    print(
        json.dumps(
            {
                "benchmark": "patch_incremental",
                "command": "python benchmarks/patch_incremental.py " + " ".join(sys.argv[1:]),
                "artifacts": args.count,
                "catalog_only_records": args.scale_records,
                "biggest_subdir": subdir.name,
                "patched_entries": len(instructions["packages"])
                + len(instructions["packages.conda"]),
                "cold_index_seconds": round(cold["seconds"], 3),
                **{
                    mode: {
                        "patch_work_median_s": round(statistics.median(r["patch"] for r in rs), 4),
                        "commit_median_s": round(statistics.median(r["commit"] for r in rs), 4),
                        "index_median_s": round(statistics.median(r["seconds"] for r in rs), 4),
                    }
                    for mode, rs in runs.items()
                },
                "loadavg": os.getloadavg(),
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
