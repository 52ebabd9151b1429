"""Mirroring benchmark: `stockyard mirror` against conda-mirror on the same local upstream.

The upstream is rattler-index output (py-rattler's `index_fs`, with CEP 16 shards and `.zst`)
over a synthesized channel (`stockyard.testing.corpus.synthesize_channel`: real metadata, and
incompressible payloads of about the original artifact's size, capped by --payload-kib), served
by a plain threaded static file server on 127.0.0.1 (HTTP/1.1 keep-alive, Last-Modified and
If-Modified-Since, no ETag) that logs every request and the bytes it sent. Side by side in one
run, each command in a fresh process (wall time and peak RSS of its process tree,
benchmarks/_measure.py):

- full: mirror every artifact of linux-64 and noarch into an empty target, Stockyard with each
  --jobs value (default 1 and 8), conda-mirror (one invocation per platform, as it takes one);
- no change: run again against the unchanged upstream, --repeat times (each a fresh process;
  every one should end `up_to_date` after two 304s), next to the CLI's floor (`stockyard
  version`, the same interpreter start and imports of the command line);
- incremental: upstream gains 10 artifacts (re-indexed by rattler-index), run again;
- filtered: into an empty target, `--include SPEC --with-dependencies` and a license deny list
  (conda-mirror: its YAML config with the nearest equivalent: blacklist everything, whitelist the
  name, blacklist licenses matching `*gpl*`, `--include-depends`).

Prints one JSON document. Usage:

    .venv/bin/python benchmarks/mirror.py --count 13000 --corpus /tmp/bench-mirror/corpus \
        --conda-mirror /tmp/peers/cm/bin/conda-mirror

`--no-change-only --workdir DIR` takes the targets an earlier run kept in DIR (`--workdir`) and
measures only the no-change runs, against DIR's upstream served again (on another port: a first
Stockyard run, reported as `settle`, reads upstream afresh and downloads nothing).
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import Measurement, run_measured
from index import _copy_tree, make_extra_artifact

PY = sys.executable
STOCKYARD = [PY, "-m", "stockyard.cli.main"]
SUBDIRS = ("linux-64", "noarch")
CHANNEL = "upstream"  # served at http://127.0.0.1:PORT/upstream (conda-mirror needs a path)
ARTIFACT_SUFFIXES = (".conda", ".tar.bz2")
RATTLER_INDEX = """
import asyncio, sys
from pathlib import Path
from rattler.index import index_fs
asyncio.run(index_fs(Path(sys.argv[1]), write_zst=True, write_shards=True, force=False))
"""


# --- the upstream server -------------------------------------------------------------------


@dataclass
class Upstream:
    root: Path
    url: str = ""
    #: (path, status, bytes sent in the body)
    log: list[tuple[str, int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def since(self, start: int) -> dict[str, Any]:
        with self.lock:
            entries = self.log[start:]
        artifacts = [e for e in entries if e[0].endswith(ARTIFACT_SUFFIXES)]
        statuses: dict[str, int] = {}
        for _, status, _ in entries:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        return {
            "requests": len(entries),
            "statuses": statuses,
            "bytes": sum(e[2] for e in entries),
            "artifact_requests": len(artifacts),
            "artifact_bytes": sum(e[2] for e in artifacts),
            "metadata_requests": len(entries) - len(artifacts),
            "metadata_bytes": sum(e[2] for e in entries) - sum(e[2] for e in artifacts),
        }

    def mark(self) -> int:
        with self.lock:
            return len(self.log)


def _handler(state: Upstream) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def send_response(self, code: int, message: str | None = None) -> None:
            self._status = code
            self._length = 0
            super().send_response(code, message)

        def send_header(self, keyword: str, value: str) -> None:
            if keyword.lower() == "content-length" and self._status == 200:
                self._length = int(value)
            super().send_header(keyword, value)

        def end_headers(self) -> None:
            with state.lock:
                state.log.append((self.path, self._status, self._length))
            super().end_headers()

    return Handler


@contextmanager
def serve(root: Path) -> Iterator[Upstream]:
    state = Upstream(root)
    handler = functools.partial(_handler(state), directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/{CHANNEL}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- the upstream channel ------------------------------------------------------------------


def rattler_index(channel: Path) -> float:
    result = run_measured([PY, "-c", RATTLER_INDEX, str(channel)])
    if result.returncode != 0:
        raise SystemExit(f"rattler-index failed: {result.stderr}")
    # Last-Modified has one-second granularity: move the documents ahead so a re-index within
    # the second of a client's last fetch is not mistaken for "unchanged".
    later = time.time() + 5 + rattler_index.calls  # type: ignore[attr-defined]
    rattler_index.calls += 2  # type: ignore[attr-defined]
    for path in channel.rglob("*"):
        if path.is_file() and path.name.startswith(("repodata", "channeldata")):
            os.utime(path, (later, later))
    return result.seconds


rattler_index.calls = 0  # type: ignore[attr-defined]


def build_corpus(corpus: Path, count: int, payload_kib: int) -> float:
    from stockyard.testing.corpus import synthesize_channel

    if corpus.exists() and any(corpus.rglob("*.conda")):
        return 0.0
    started = time.perf_counter()
    synthesize_channel(
        corpus,
        count,
        bz2_fraction=0.2,
        seed=0,
        processes=2,
        real_sizes=payload_kib > 0,
        max_payload_bytes=payload_kib << 10,
    )
    return round(time.perf_counter() - started, 2)


def add_artifacts(channel: Path, scratch: Path, count: int) -> list[str]:
    names = []
    for i in range(count):
        made = make_extra_artifact(scratch, f"incr-{i}")
        shutil.copy2(made, channel / made.parent.name / made.name)
        names.append(f"{made.parent.name}/{made.name}")
    return names


def channel_stats(channel: Path) -> dict[str, int]:
    files = [
        p for s in SUBDIRS for p in (channel / s).glob("*") if p.name.endswith(ARTIFACT_SUFFIXES)
    ]
    return {"artifacts": len(files), "bytes": sum(p.stat().st_size for p in files)}


# --- the tools -----------------------------------------------------------------------------


def _result(run: Measurement, upstream: Upstream, mark: int) -> dict[str, Any]:
    traffic = upstream.since(mark)
    out: dict[str, Any] = {**run.as_dict(), "returncode": run.returncode, **traffic}
    if run.seconds > 0:
        out["artifact_bytes_per_s"] = round(traffic["artifact_bytes"] / run.seconds)
        out["artifacts_per_s"] = round(traffic["artifact_requests"] / run.seconds, 1)
    if run.returncode != 0:
        out["stderr_tail"] = run.stderr[-2000:]
    return out


def stockyard_mirror(
    upstream: Upstream, target: Path, jobs: int, extra: list[str] | None = None
) -> dict[str, Any]:
    argv = [*STOCKYARD, "mirror", upstream.url, str(target), "--jobs", str(jobs), "--json"]
    for subdir in SUBDIRS:
        argv += ["--subdir", subdir]
    mark = upstream.mark()
    run = run_measured([*argv, *(extra or [])])
    out = _result(run, upstream, mark)
    if run.returncode == 0:
        summary = json.loads(run.stdout)
        keep = (
            "selected", "added", "removed", "unchanged", "bytes", "downloaded_bytes",
            "up_to_date",
        )  # fmt: skip
        out["summary"] = {k: summary.get(k) for k in keep if k in summary}
        out["summary"]["unsatisfied"] = len(summary.get("unsatisfied") or [])
        out["summary"]["subdirs"] = {
            name: {k: v for k, v in info.items() if k in ("source", "not_modified")}
            for name, info in (summary.get("subdirs") or {}).items()
        }
        out["summary"]["seconds_reported"] = summary.get("seconds")
    out["target"] = channel_stats(target)
    return out


def conda_mirror(
    executable: Path, upstream: Upstream, target: Path, extra: list[str] | None = None
) -> dict[str, Any]:
    """One invocation per platform (conda-mirror takes one); seconds summed, peak the max."""
    mark = upstream.mark()
    seconds, peak, codes, errors = 0.0, 0.0, [], []
    for subdir in SUBDIRS:
        argv = [
            str(executable),
            "--upstream-channel",
            upstream.url,
            "--target-directory",
            str(target),
            "--platform",
            subdir,
            "--num-threads",
            "1",
            "--no-progress",
        ]
        run = run_measured([*argv, *(extra or [])])
        seconds += run.seconds
        peak = max(peak, run.peak_rss_mb)
        codes.append(run.returncode)
        if run.returncode != 0:
            errors.append(run.stderr[-2000:])
    failed = next((code for code in codes if code != 0), 0)
    combined = Measurement(seconds, peak, failed, "", "\n".join(errors))
    out = _result(combined, upstream, mark)
    out["target"] = channel_stats(target)
    return out


def conda_mirror_config(path: Path, include: str) -> Path:
    """conda-mirror's nearest equivalent of `--include NAME --license-deny '*GPL*'`."""
    import yaml

    config = {
        "blacklist": [{"name": "*"}, {"license": "*gpl*"}],
        "whitelist": [{"name": include}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def gpl_records(target: Path) -> int:
    """Records in the target whose raw license string matches `*gpl*` (case-insensitive)."""
    count = 0
    for subdir in SUBDIRS:
        document = target / subdir / "repodata.json"
        if not document.exists():
            continue
        data = json.loads(document.read_bytes())
        for section in ("packages", "packages.conda"):
            for record in (data.get(section) or {}).values():
                if fnmatch.fnmatch(str(record.get("license") or "").lower(), "*gpl*"):
                    count += 1
    return count


# --- the run -------------------------------------------------------------------------------


def full_runs(upstream: Upstream, work: Path, jobs: list[int], peer: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for j in jobs:
        out[f"stockyard_jobs{j}"] = stockyard_mirror(upstream, work / f"stockyard-j{j}", j)
    if peer is not None:
        out["conda_mirror"] = conda_mirror(peer, upstream, work / "conda-mirror")
    return out


def repeat_runs(
    upstream: Upstream, work: Path, jobs: int, peer: Path | None, label: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["stockyard"] = stockyard_mirror(upstream, work / f"stockyard-j{jobs}", jobs)
    if peer is not None:
        out["conda_mirror"] = conda_mirror(peer, upstream, work / "conda-mirror")
    return {label: out}


def no_change_runs(
    upstream: Upstream, work: Path, jobs: int, peer: Path | None, repeat: int
) -> dict[str, Any]:
    """The no-change run `repeat` times (the first is reported whole), and the CLI's floor."""
    target = work / f"stockyard-j{jobs}"
    runs = [stockyard_mirror(upstream, target, jobs) for _ in range(max(1, repeat))]
    walls = sorted(r["seconds"] for r in runs)
    floor = sorted(run_measured([*STOCKYARD, "version"]).seconds for _ in range(3))
    out: dict[str, Any] = {
        "stockyard": runs[0],
        "stockyard_repeats": {
            "seconds": [r["seconds"] for r in runs],
            "min": walls[0],
            "median": walls[len(walls) // 2],
            "max": walls[-1],
            "up_to_date": [r.get("summary", {}).get("up_to_date") for r in runs],
            "work_seconds": [r.get("summary", {}).get("seconds_reported") for r in runs],
            "requests": [r["requests"] for r in runs],
            "statuses": [r["statuses"] for r in runs],
        },
        "cli_floor_seconds": {"stockyard version": round(floor[1], 4)},
    }
    if peer is not None:
        out["conda_mirror"] = conda_mirror(peer, upstream, work / "conda-mirror")
    return out


def filtered_runs(
    upstream: Upstream, work: Path, jobs: int, peer: Path | None, include: str
) -> dict[str, Any]:
    deny = ["GPL-*", "LGPL-*", "AGPL-*"]
    extra = ["--include", include, "--with-dependencies"]
    for spdx in deny:
        extra += ["--license-deny", spdx]
    target = work / "stockyard-filtered"
    ours = stockyard_mirror(upstream, target, jobs, extra)
    ours["gpl_records"] = gpl_records(target)
    out: dict[str, Any] = {"stockyard_args": extra, "stockyard": ours}
    if peer is not None:
        config = conda_mirror_config(work / "conda-mirror-filter.yaml", include)
        peer_target = work / "conda-mirror-filtered"
        peer_args = ["--config", str(config), "--include-depends"]
        theirs = conda_mirror(peer, upstream, peer_target, peer_args)
        theirs["gpl_records"] = gpl_records(peer_target)
        out["conda_mirror_config"] = config.read_text()
        out["conda_mirror_args"] = peer_args
        out["conda_mirror"] = theirs
    return out


def no_change_only(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"machine_start": machine(), "workdir": str(work)}
    peer = args.conda_mirror if args.conda_mirror and args.conda_mirror.exists() else None
    last = args.jobs[-1]
    with serve(work / "served") as upstream:
        out["upstream"] = channel_stats(work / "served" / CHANNEL)
        out["settle"] = stockyard_mirror(upstream, work / f"stockyard-j{last}", last)
        out["no_change"] = no_change_runs(upstream, work, last, peer, args.repeat)
    out["machine_end"] = machine()
    return out


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"machine_start": machine(), "payload_kib_cap": args.payload_kib}
    corpus = args.corpus or work / "corpus"
    out["synthesize_seconds"] = build_corpus(corpus, args.count, args.payload_kib)
    channel = work / "served" / CHANNEL
    channel.mkdir(parents=True)
    _copy_tree(corpus, channel)
    for subdir in SUBDIRS:
        (channel / subdir).mkdir(exist_ok=True)
    out["rattler_index_seconds"] = round(rattler_index(channel), 2)
    out["upstream"] = channel_stats(channel)
    peer = args.conda_mirror if args.conda_mirror and args.conda_mirror.exists() else None
    out["conda_mirror_available"] = peer is not None
    with serve(channel.parent) as upstream:
        out["full"] = full_runs(upstream, work, args.jobs, peer)
        last = args.jobs[-1]
        out["no_change"] = no_change_runs(upstream, work, last, peer, args.repeat)
        out["added_upstream"] = add_artifacts(channel, work / "extra", args.add)
        out["reindex_seconds"] = round(rattler_index(channel), 2)
        out.update(repeat_runs(upstream, work, last, peer, "incremental"))
        out["filtered"] = filtered_runs(upstream, work, last, peer, args.include)
    out["machine_end"] = machine()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=13000)
    parser.add_argument("--corpus", type=Path, help="reuse (or create) the corpus here")
    parser.add_argument("--payload-kib", type=int, default=64, help="0: tiny payloads")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--add", type=int, default=10, help="artifacts upstream adds")
    parser.add_argument("--repeat", type=int, default=5, help="no-change runs of Stockyard")
    parser.add_argument("--include", default="pandas", help="the filtered run's --include")
    parser.add_argument("--conda-mirror", type=Path, help="conda-mirror executable (own venv)")
    parser.add_argument("--workdir", type=Path, help="keep the targets here")
    parser.add_argument(
        "--no-change-only", action="store_true", help="only the no-change runs, in --workdir"
    )
    args = parser.parse_args()
    if args.no_change_only:
        if not args.workdir or not (args.workdir / "served" / CHANNEL).is_dir():
            raise SystemExit("--no-change-only needs --workdir of an earlier run")
        print(json.dumps(no_change_only(args, args.workdir), indent=2))
        return
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=False)
        print(json.dumps(run(args, args.workdir), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="stockyard-mirror-bench-") as tmp:
        print(json.dumps(run(args, Path(tmp)), indent=2))


if __name__ == "__main__":
    main()
