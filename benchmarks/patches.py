"""Patch YAML benchmark: conda-forge's whole patch set applied to real and synthetic records.

Two engines on the same compiled rules (tests/data/conda-forge-patches, 1,071 documents):

- indexed: Stockyard's engine (`PatchYamlRules.patch_record`): per package name, only the rules
  that can match the name; within those, rules keyed by what a record must hold are looked up
  from its dependencies;
- linear: the straightforward way (`patch_record_linear`): every rule tested against every
  record, in order.

Runs (each reports wall and CPU seconds and records/s; the indexed engine starts from freshly
compiled rules, so the first-use costs of its caches are included):

1. every record of the test data (tests/data/repodata, 10,510 records), both engines, and a
   check that they give identical records;
2. a synthetic channel of N records (default 1,000,000: the real records replicated with
   distinct filenames, alternately `.tar.bz2` and `.conda`): the indexed engine's patched
   records, and the complete `patch_instructions.json` a `stockyard index` computes from them
   (`YamlPatchSource.instructions_for`); the linear engine over the first --linear-records
   records (default all of them; fewer gives an extrapolated total, marked as such).

Prints one JSON document. Usage:

    .venv/bin/python benchmarks/patches.py [--records 1000000] [--linear-records N]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PATCH_YAML = ROOT / "tests" / "data" / "conda-forge-patches" / "recipe" / "patch_yaml"

Record = tuple[str, dict[str, Any], str]


def _timed(work: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, {
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
    }


def _rate(count: int, timing: dict[str, float]) -> dict[str, Any]:
    return {
        "records": count,
        **timing,
        "records_per_s": round(count / timing["seconds"]) if timing["seconds"] else None,
    }


def _real_records() -> list[Record]:
    from stockyard.testing.corpus import load_shared_records

    return [(filename, record, record["subdir"]) for filename, record in load_shared_records()]


def _synthetic(records: list[Record], count: int) -> dict[str, Any]:
    """`count` records: the real ones again and again, with distinct filenames."""
    repodata: dict[str, Any] = {"packages": {}, "packages.conda": {}}
    copy = 0
    while True:
        for filename, record, _subdir in records:
            if len(repodata["packages"]) + len(repodata["packages.conda"]) >= count:
                return repodata
            stem = filename.removesuffix(".tar.bz2").removesuffix(".conda")
            if copy % 2:
                repodata["packages.conda"][f"{stem}_{copy}.conda"] = record
            else:
                repodata["packages"][f"{stem}_{copy}.tar.bz2"] = record
        copy += 1


def _patch_all(patch: Callable[..., dict[str, Any]], records: list[Record]) -> dict[str, Any]:
    changed = {}
    for filename, record, subdir in records:
        patched = patch(filename, record, subdir)
        if patched is not record and patched != record:
            changed[filename] = patched
    return changed


def run_real(load: Callable[[], Any]) -> dict[str, Any]:
    records = _real_records()
    indexed_rules, linear_rules = load(), load()
    indexed, indexed_time = _timed(lambda: _patch_all(indexed_rules.patch_record, records))
    linear, linear_time = _timed(lambda: _patch_all(linear_rules.patch_record_linear, records))
    if indexed != linear:
        raise SystemExit("the indexed and linear engines disagree on the test data")
    return {
        "records": len(records),
        "records_changed": len(indexed),
        "indexed": _rate(len(records), indexed_time),
        "linear": _rate(len(records), linear_time),
        "speedup": round(linear_time["seconds"] / indexed_time["seconds"], 1),
    }


def run_synthetic(load: Callable[[], Any], count: int, linear_count: int) -> dict[str, Any]:
    from stockyard.patches.sources import YamlPatchSource

    repodata = _synthetic(_real_records(), count)
    subdir = "linux-64"
    changed, patch_time = _timed(lambda: load().changed_records(repodata, subdir))
    source = YamlPatchSource(PATCH_YAML, load())
    instructions, instructions_time = _timed(lambda: source.instructions_for(subdir, repodata))
    entries = len(instructions["packages"]) + len(instructions["packages.conda"])

    flat = [
        (filename, record, subdir)
        for section in ("packages", "packages.conda")
        for filename, record in repodata[section].items()
    ][:linear_count]
    linear_rules = load()
    linear, linear_time = _timed(lambda: _patch_all(linear_rules.patch_record_linear, flat))
    expected = {filename: changed[filename] for filename, _, _ in flat if filename in changed}
    if linear != expected:
        raise SystemExit("the indexed and linear engines disagree on the synthetic records")
    linear_report = _rate(len(flat), linear_time)
    if len(flat) < count:
        linear_report["extrapolated_seconds_for_all"] = round(
            linear_time["seconds"] * count / len(flat), 1
        )
    return {
        "records": count,
        "records_changed": len(changed),
        "indexed_patch": _rate(count, patch_time),
        "indexed_instructions": {**_rate(count, instructions_time), "entries": entries},
        "linear_patch": linear_report,
        "speedup": round((linear_time["seconds"] / len(flat)) / (patch_time["seconds"] / count), 1),
        "target_met": instructions_time["seconds"] < 10,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--linear-records",
        type=int,
        default=None,
        help="how many synthetic records the linear engine patches (default: all)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    from stockyard.patches.yaml_rules import load_patch_yaml

    rules, compile_time = _timed(lambda: load_patch_yaml(PATCH_YAML, cached=False))
    report = {
        "patch_set": {
            "documents": len(rules.rules),
            "files": len(list(PATCH_YAML.glob("*.yaml"))),
            "load_and_compile": compile_time,
        },
        "test_data": run_real(lambda: load_patch_yaml(PATCH_YAML, cached=False)),
        "synthetic": run_synthetic(
            lambda: load_patch_yaml(PATCH_YAML, cached=False),
            args.records,
            args.linear_records if args.linear_records is not None else args.records,
        ),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
