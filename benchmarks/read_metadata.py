"""Benchmark: read metadata and hashes of a synthesized channel, Stockyard vs peers.

Every tool reads the same artifacts on the same number of processes (a `multiprocessing.Pool`,
same chunk size) and sends its result for each artifact back to the parent, as an indexer would:

- stockyard: `stockyard.package.read_artifact` (index.json, about, run_exports, link, path
  flags from paths.json, icon, recipe; sha256, md5 and size in the same pass);
- conda-package-streaming: `stream_conda_info` for info/index.json, about.json,
  run_exports.json and paths.json (decoded with msgspec), plus one read of the file for hashlib
  sha256 + md5;
- py-rattler (typed): `IndexJson`, `PathsJson` and `RunExportsJson.from_package_archive` (it has
  no archive reader for about.json), plus hashlib as above; results turned into dicts;
- py-rattler (archive): `PackageArchive.from_path(...).read_files([...])` for the same four
  files (one pass per section), decoded with msgspec, plus hashlib;
- naive: read each file and compute sha256 + md5, nothing else (the floor for any reader).

Each tool runs in a fresh interpreter, so peak RSS is per tool (the largest of its processes).
Prints one JSON object on stdout.

    .venv/bin/python benchmarks/read_metadata.py                 # 13,000 artifacts, 2 processes
    .venv/bin/python benchmarks/read_metadata.py --corpus DIR    # reuse a synthesized channel
    .venv/bin/python benchmarks/read_metadata.py --count 2000 --real-sizes   # real-sized files
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing import active_children, get_context
from pathlib import Path
from typing import Any

TOOLS = ("stockyard", "conda-package-streaming", "rattler-typed", "rattler-archive", "naive")
INFO_FILES = ("info/index.json", "info/about.json", "info/run_exports.json", "info/paths.json")


def _hashes(path: str) -> tuple[int, str, str]:
    with open(path, "rb") as f:
        data = f.read()
    return len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()


# --- one function per tool: path -> picklable result --------------------------------------------


def read_stockyard(path: str) -> Any:
    from stockyard.package.read import read_artifact

    return read_artifact(path)


def read_naive(path: str) -> Any:
    sha256 = hashlib.sha256()
    md5 = hashlib.md5()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, sha256.hexdigest(), md5.hexdigest()


def read_cps(path: str) -> Any:
    import msgspec
    from conda_package_streaming.package_streaming import stream_conda_info

    docs: dict[str, Any] = {}
    for tar, member in stream_conda_info(path):
        if member.name in INFO_FILES:
            docs[member.name] = msgspec.json.decode(tar.extractfile(member).read())  # type: ignore[union-attr]
    return _hashes(path), docs


def read_rattler_typed(path: str) -> Any:
    from rattler.package import IndexJson, PathsJson, RunExportsJson

    index = IndexJson.from_package_archive(path)
    paths = PathsJson.from_package_archive(path)
    try:
        run_exports = RunExportsJson.from_package_archive(path)
        exports = {
            "weak": list(map(str, run_exports.weak)),
            "strong": list(map(str, run_exports.strong)),
        }
    except Exception:  # raised when the archive has no run_exports.json
        exports = None
    record = {
        "name": index.name.normalized,
        "version": str(index.version),
        "build": str(index.build),
        "build_number": index.build_number,
        "depends": list(index.depends),
        "constrains": list(index.constrains),
        "license": str(index.license) if index.license else None,
        "subdir": str(index.subdir) if index.subdir else None,
        "timestamp": index.timestamp,
    }
    flags = [(str(p.relative_path), p.prefix_placeholder is not None) for p in paths.paths]
    return _hashes(path), record, exports, flags


_loop: asyncio.AbstractEventLoop | None = None


def read_rattler_archive(path: str) -> Any:
    global _loop
    import msgspec
    from rattler.package_streaming import PackageArchive

    async def read() -> dict[str, bytes | None]:
        archive = await PackageArchive.from_path(path)
        return await archive.read_files(INFO_FILES)

    if _loop is None:
        _loop = asyncio.new_event_loop()
    files = _loop.run_until_complete(read())
    docs = {k: msgspec.json.decode(v) for k, v in files.items() if v is not None}
    return _hashes(path), docs


FUNCTIONS = {
    "stockyard": read_stockyard,
    "conda-package-streaming": read_cps,
    "rattler-typed": read_rattler_typed,
    "rattler-archive": read_rattler_archive,
    "naive": read_naive,
}


# --- one tool in its own interpreter ----------------------------------------------------------


def _vm_hwm_kib(pid: int | str) -> int:
    """Peak resident set size of a live process, in KiB (Linux)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_tool(tool: str, paths: list[str], processes: int, chunksize: int) -> dict[str, Any]:
    fn = FUNCTIONS[tool]
    # spawn, not fork: py-rattler starts a tokio runtime whose threads do not survive a fork.
    with get_context("spawn").Pool(processes) as pool:
        pool.map(fn, paths[: processes * 4], chunksize=1)  # workers up, modules imported
        start = time.perf_counter()
        # Consume each result as it arrives and drop it, as an indexer writing rows to its
        # catalog does (holding 13,000 results would mostly measure the cyclic GC).
        received = 0
        for result in pool.imap_unordered(fn, paths, chunksize=chunksize):
            received += result is not None
        seconds = time.perf_counter() - start
        # VmHWM, not getrusage: Linux carries ru_maxrss over fork+exec, so a child would report
        # its parent's peak. VmHWM belongs to the process image itself.
        peak_kib = max(_vm_hwm_kib("self"), *(_vm_hwm_kib(p.pid) for p in active_children()))
    assert received == len(paths)
    return {
        "seconds": round(seconds, 3),
        "artifacts_per_second": round(len(paths) / seconds),
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=13_000, help="artifacts to synthesize")
    parser.add_argument("--corpus", type=Path, help="reuse this synthesized channel directory")
    parser.add_argument(
        "--real-sizes",
        action="store_true",
        help="pad each artifact with incompressible data to its record's real size",
    )
    parser.add_argument(
        "--max-payload-mib", type=float, default=4, help="cap for --real-sizes payloads"
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--chunksize", type=int, default=64)
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds; tools alternate within a round and each reports its best round "
        "(the machine may be shared)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--paths-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        paths = args.paths_file.read_text().splitlines()
        print(json.dumps(run_tool(args.worker, paths, args.processes, args.chunksize)))
        return

    with tempfile.TemporaryDirectory(prefix="stockyard-bench-") as tmp:
        corpus = args.corpus
        synth_seconds = None
        if corpus is None or not any(corpus.glob("*/*.conda")):
            from stockyard.testing.corpus import synthesize_channel

            corpus = corpus or Path(tmp) / "channel"
            start = time.perf_counter()
            synthesize_channel(
                corpus,
                args.count,
                processes=args.processes,
                real_sizes=args.real_sizes,
                max_payload_bytes=int(args.max_payload_mib * (1 << 20)),
            )
            synth_seconds = round(time.perf_counter() - start, 2)
        paths = sorted(
            str(p) for p in corpus.glob("*/*") if p.name.endswith((".conda", ".tar.bz2"))
        )
        paths_file = Path(tmp) / "paths.txt"
        paths_file.write_text("\n".join(paths))
        report: dict[str, Any] = {
            "benchmark": "read_metadata",
            "artifacts": len(paths),
            "tar_bz2": sum(p.endswith(".tar.bz2") for p in paths),
            "total_mib": round(sum(os.path.getsize(p) for p in paths) / (1 << 20), 1),
            "processes": args.processes,
            "chunksize": args.chunksize,
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "synthesize_seconds": synth_seconds,
            "tools": {},
        }
        tools = args.tools.split(",")
        runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
        for _ in range(args.repeat):
            for tool in tools:
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", tool, "--paths-file", str(paths_file),
                     "--processes", str(args.processes), "--chunksize", str(args.chunksize)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                runs[tool].append(json.loads(out.stdout))
        for tool in tools:
            best = min(runs[tool], key=lambda run: run["seconds"])
            report["tools"][tool] = {
                **best,
                "all_rounds_per_second": [run["artifacts_per_second"] for run in runs[tool]],
            }
        if "stockyard" in report["tools"]:
            ours = report["tools"]["stockyard"]["seconds"]
            report["stockyard_speedup"] = {
                tool: round(result["seconds"] / ours, 2)
                for tool, result in report["tools"].items()
                if tool != "stockyard"
            }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
