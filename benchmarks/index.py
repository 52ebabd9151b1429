"""Indexing benchmark: Stockyard vs rattler-index (py-rattler's `rattler.index.index_fs`).

Synthesizes a channel of real metadata (a fifth `.tar.bz2`), then measures, for both tools in
the same run and each in a fresh process (wall time and peak RSS of the whole process tree):

- cold: index the channel from nothing;
- add one: add one artifact and index again;
- no change: index again with nothing changed (Stockyard only; also reports the work time
  measured inside the process, i.e. beyond interpreter start and imports);
- scale (unless --skip-scale): a catalog of N records inserted directly (as a mirror ingests
  upstream repodata), then publish one added artifact.

Both tools run as installed Python programs do: with their bytecode cached (in a folder of the
work directory, warmed by one run each before anything is measured), even when the calling
environment sets PYTHONDONTWRITEBYTECODE (which would make every run compile Stockyard's own
modules again, a fifth of a second). `--add-one-rounds N` repeats the add-one measurement N times
(adding, then removing the artifact again between rounds) and reports each round, headlined by
the round of the median ratio, for machines shared with other work.

Prints one JSON document. Usage:

    .venv/bin/python benchmarks/index.py --count 13369 [--corpus DIR] [--scale-records 1000000]
        [--add-one-rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_measured

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
STOCKYARD = [PY, "-m", "stockyard.cli.main"]
#: The environment both tools run in (`use_bytecode_cache`).
ENV: dict[str, str] | None = None


def use_bytecode_cache(folder: Path) -> None:
    """Run both tools with bytecode cached in `folder`, as an installed program runs."""
    global ENV
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(folder))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV = env


RATTLER_SNIPPET = """
import asyncio, sys
from pathlib import Path
from rattler.index import index_fs
asyncio.run(index_fs(Path(sys.argv[1]), write_zst=True, write_shards=True))
"""


def _copy_tree(src: Path, dst: Path) -> None:
    """Hard-link only the artifacts (never an index state or published file) into `dst`.

    Both tools only read artifacts, and copying 13k files would dominate the set-up.
    """
    for sub in src.iterdir():
        if not sub.is_dir() or sub.name.startswith("."):
            continue
        (dst / sub.name).mkdir(parents=True, exist_ok=True)
        for art in sub.iterdir():
            if art.name.endswith((".conda", ".tar.bz2")):
                os.link(art, dst / sub.name / art.name)


def _cpu_measured(argv: list[str]):  # type: ignore[no-untyped-def]
    """`run_measured`, plus the CPU seconds (user + system) of the process and every process
    it waited for: steadier than wall time on a machine shared with other work."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_measured(argv, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    result.cpu_seconds = round(used, 4)
    return result


def _with_cpu(result) -> dict:  # type: ignore[no-untyped-def]
    return {**result.as_dict(), "cpu_seconds": result.cpu_seconds}


def _stockyard(channel: Path, *extra: str):  # type: ignore[no-untyped-def]
    result = _cpu_measured([*STOCKYARD, "index", str(channel), "--json", *extra])
    if result.returncode != 0:
        raise SystemExit(f"stockyard index failed: {result.stderr}")
    work = json.loads(result.stdout)
    return result, work


#: Runs of rattler-index that died of a signal and were run again (py-rattler 0.28's index_fs
#: crashed now and then with SIGSEGV on this machine, 2026-11-27).
RATTLER_CRASHES: list[int] = []


def _rattler(channel: Path):  # type: ignore[no-untyped-def]
    result = _cpu_measured([PY, "-c", RATTLER_SNIPPET, str(channel)])
    for _ in range(2):
        if result.returncode >= 0:
            break
        RATTLER_CRASHES.append(result.returncode)
        result = _cpu_measured([PY, "-c", RATTLER_SNIPPET, str(channel)])
    if result.returncode != 0:
        raise SystemExit(f"rattler index failed ({result.returncode}): {result.stderr}")
    return result


def make_extra_artifact(directory: Path, tag: str, subdir: str = "linux-64") -> Path:
    """One small artifact with a name no corpus holds, for the "add one" measurements."""
    from stockyard.package.create import write_artifact

    name, version, build = f"stockyard-bench-{tag}", "1.0", "h0_0"
    index_json = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": ["python >=3.8"],
        "license": "MIT",
        "subdir": subdir,
        "timestamp": 1700000000000,
    }
    payload = b"print('hello')\n"
    import hashlib

    paths = {
        "paths_version": 1,
        "paths": [
            {
                "_path": f"lib/{name}.py",
                "path_type": "hardlink",
                "sha256": hashlib.sha256(payload).hexdigest(),
                "size_in_bytes": len(payload),
            }
        ],
    }
    target = directory / subdir / f"{name}-{version}-{build}.conda"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_artifact(
        target,
        {
            "info/index.json": json.dumps(index_json).encode(),
            "info/paths.json": json.dumps(paths).encode(),
            f"lib/{name}.py": payload,
        },
    )
    return target


def bench_corpus(corpus: Path, workdir: Path, add_one_rounds: int = 1) -> dict:
    for warm in ([*STOCKYARD, "--help"], [PY, "-c", "import rattler.index"]):
        run_measured(warm, env=ENV)  # fills the bytecode cache
    baseline = run_measured([PY, "-c", "pass"], env=ENV)
    imports = run_measured([*STOCKYARD, "--help"], env=ENV)
    ours, theirs = workdir / "stockyard", workdir / "rattler"
    _copy_tree(corpus, ours)
    _copy_tree(corpus, theirs)
    artifacts = sum(1 for p in corpus.rglob("*") if p.suffix in {".conda", ".bz2"})

    cold_ours, cold_work = _stockyard(ours)
    cold_theirs = _rattler(theirs)

    extra = make_extra_artifact(workdir / "extra", "add-one")
    subdir = extra.parent.name
    rounds = []
    for round_ in range(add_one_rounds):
        if round_:  # back to the corpus alone, unmeasured
            for channel in (ours, theirs):
                (channel / subdir / extra.name).unlink()
            _stockyard(ours)
            _rattler(theirs)
        shutil.copy2(extra, ours / subdir / extra.name)
        shutil.copy2(extra, theirs / subdir / extra.name)
        ours_round, work_round = _stockyard(ours)
        rounds.append((ours_round, work_round, _rattler(theirs)))
    # The round with the median ratio is the headline; every round is in "rounds".
    by_ratio = sorted(rounds, key=lambda r: r[0].seconds / r[2].seconds)
    add_ours, add_work, add_theirs = by_ratio[len(by_ratio) // 2]

    same_ours, same_work = _stockyard(ours)
    same_theirs = _rattler(theirs)

    return {
        "artifacts": artifacts,
        "python_startup_seconds": round(baseline.seconds, 4),
        "stockyard_cli_startup_seconds": round(imports.seconds, 4),
        "cold": {
            "stockyard": {**_with_cpu(cold_ours), "work_seconds": cold_work["seconds"]},
            "rattler_index": _with_cpu(cold_theirs),
            "ratio": round(cold_ours.seconds / cold_theirs.seconds, 3),
        },
        "add_one": {
            "stockyard": {
                **_with_cpu(add_ours),
                "work_seconds": add_work["seconds"],
                "files_written": add_work["files_written"],
            },
            "rattler_index": _with_cpu(add_theirs),
            "ratio": round(add_ours.seconds / add_theirs.seconds, 3),
            "rounds": [
                {
                    "stockyard_seconds": round(o.seconds, 4),
                    "stockyard_cpu_seconds": o.cpu_seconds,
                    "stockyard_work_seconds": w["seconds"],
                    "stockyard_timings": w["timings"],
                    "rattler_index_seconds": round(t.seconds, 4),
                    "rattler_index_cpu_seconds": t.cpu_seconds,
                    "ratio": round(o.seconds / t.seconds, 3),
                }
                for o, w, t in rounds
            ],
        },
        "no_change": {
            "stockyard": {
                **_with_cpu(same_ours),
                "work_seconds": same_work["seconds"],
                "files_written": same_work["files_written"],
                "beyond_interpreter_start": round(same_ours.seconds - baseline.seconds, 4),
            },
            "rattler_index": _with_cpu(same_theirs),
        },
    }


SCALE_SNIPPET = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from scale_fill import fill_catalog
fill_catalog(Path(sys.argv[1]), int(sys.argv[2]))
"""


def bench_scale(records: int, workdir: Path) -> dict:
    channel = workdir / "scale"
    channel.mkdir()
    fill = run_measured(
        [PY, "-c", SCALE_SNIPPET, str(channel), str(records), str(Path(__file__).parent)],
        env=ENV,
    )
    if fill.returncode != 0:
        raise SystemExit(f"filling the catalog failed: {fill.stderr}")
    first, first_work = _stockyard(channel)  # publishes everything once
    extra = make_extra_artifact(workdir / "scale-extra", "scale")
    (channel / extra.parent.name).mkdir(exist_ok=True)
    shutil.copy2(extra, channel / extra.parent.name / extra.name)
    add, add_work = _stockyard(channel)
    return {
        "records": records,
        "fill_seconds": round(fill.seconds, 2),
        "first_publish": {**first.as_dict(), "work_seconds": first_work["seconds"]},
        "add_one": {
            **add.as_dict(),
            "work_seconds": add_work["seconds"],
            "subdir": extra.parent.name,
            "files_written": add_work["files_written"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=13369)
    parser.add_argument("--corpus", type=Path, help="reuse (or create) the corpus here")
    parser.add_argument("--scale-records", type=int, default=1_000_000)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--add-one-rounds", type=int, default=1)
    args = parser.parse_args()
    from stockyard.testing.corpus import synthesize_channel

    out: dict = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="stockyard-bench-") as tmp:
        workdir = Path(tmp)
        use_bytecode_cache(workdir / "pycache")
        if not args.skip_corpus:
            corpus = args.corpus or workdir / "corpus"
            if not corpus.exists() or not any(corpus.iterdir()):
                started = time.perf_counter()
                synthesize_channel(corpus, args.count, bz2_fraction=0.2, seed=0, processes=2)
                out["synthesize_seconds"] = round(time.perf_counter() - started, 2)
            out["index"] = bench_corpus(corpus, workdir, args.add_one_rounds)
        if not args.skip_scale:
            out["scale"] = bench_scale(args.scale_records, workdir)
    out["rattler_index_crashes_rerun"] = RATTLER_CRASHES
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
