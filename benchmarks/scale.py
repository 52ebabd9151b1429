"""Scale-out benchmark (issue 10): `stockyard serve` replicas sharing one PostgreSQL catalog and
one S3 bucket (moto's S3 server), and the same work on the embedded default (SQLite + local
files), side by side in one run.

1. `upload_to_installable`: first one embedded server (SQLite + local files: the reference),
   then 1, 2, 3 replicas (started one after the other on one fresh database and bucket
   prefix). `--uploaders` threads upload `--uploads` distinct packages, spread round robin over
   the replicas; each upload is timed from sending its POST until *every* replica's
   `<subdir>/repodata.json` lists it (each replica polled every 10 ms with `If-None-Match`, the
   body searched for the quoted filename). Reports p50/p95/max of that, of the 201 alone, and
   of the delay after the 201 until the last replica listed it; the replicas' own publish
   metrics (publishes, uploads per publish, mean publish time); the CPU used meanwhile.
2. `requests_per_second` with 1, 2, 3 replicas behind nginx round robin (one nginx per replica
   count, all up at once) and one replica without nginx; runs interleaved round -> scenario ->
   target, best round reported. wrk on the 304 revalidation of repodata.json (If-None-Match),
   the full repodata.json (identity and gzip) and a package download, with the CPU each group
   of processes used during each run (replicas, nginx, moto, PostgreSQL, wrk, this process, the
   rest of the machine).
3. `publish_one_added`: a catalog of `--records` records inserted directly (the way the 1M
   index benchmark builds it: benchmarks/scale_fill.py) into the served channel `main` of a
   SQLite + local deployment and of a PostgreSQL + S3 one, vacuumed and analyzed as after any
   bulk load (`settle_after_bulk_load`), published once; then one added
   artifact is published, by index runs in fresh processes (artifact put into the channel's
   store, then what `stockyard serve` runs at start: `publish_channel`; the median of
   `--publish-uploads` runs, the first one reported too) and by uploads to a
   running server, one at a time (time to the 201, which comes after the publish). Counts the
   S3 requests of each (moto's request log).

The serving channel of 1 and 2 is `--count` records inserted directly into linux-64 (as in
benchmarks/serve.py, 3,000 give a 1.3 MB repodata.json) plus one uploaded package to download.
moto is an in-memory Python emulator: S3 request costs here are moto's, not AWS's.

Prints one JSON document (progress on stderr). Usage (as root, with PostgreSQL, nginx-light and
wrk installed; `--pg-url` or STOCKYARD_TEST_PG_URL names the PostgreSQL server):

    .venv/bin/python benchmarks/scale.py --quick    # small sizes, about 3 min on 2 cores
    .venv/bin/python benchmarks/scale.py            # full: 3,000 served, 200,000-record catalog
    .venv/bin/python benchmarks/scale.py --skip latency,rps --records 1000000   # the issue's 1M
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

# The test helpers start servers exactly as the tests do; the benchmarks' shared modules.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tests.deploy.nginx_live import NGINX
from tests.s3server import s3_server
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import LiveServer, free_port, live_server

from _cpu import cpu_meter, pids_named
from _measure import run_measured
from _replicas import (
    BUCKET,
    DEFAULT_PG_URL,
    fresh_database,
    replica_env,
    round_robin_nginx,
    settings_for,
)
from scale_fill import fill_rows, settle_after_bulk_load
from serve import SCENARIOS, WRK, _build_uploads, prepared_requests, run_wrk
from stockyard.config import Settings
from stockyard.server.channels import (
    bootstrap,
    layout_for,
    open_catalog,
    publish_channel,
)

PARTS = ("latency", "rps", "publish")
CHANNEL = "main"

#: Defaults of a full run and of `--quick`.
FULL = {
    "count": 3000,
    "uploads": 60,
    "uploaders": 4,
    "duration": 5,
    "rounds": 2,
    "records": 200_000,
    "publish_uploads": 3,
}
QUICK = {
    "count": 1000,
    "uploads": 9,
    "uploaders": 3,
    "duration": 2,
    "rounds": 1,
    "records": 5_000,
    "publish_uploads": 2,
}


# --- shared ----------------------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, float]:
    """p50/p95/max in milliseconds (p95: the nearest-rank value)."""
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def upload(client: httpx.Client, base: str, token: str, path: Path) -> httpx.Response:
    """One upload with the quetz protocol (what rattler-build sends)."""
    return client.post(
        f"{base}/api/channels/{CHANNEL}/upload/{path.name}",
        params={"sha256": sha256_of(path)},
        content=path.read_bytes(),
        headers={"X-API-Key": token},
    )


def publish_metrics(base: str) -> dict[str, float]:
    """A replica's publish counters from /metrics: publishes (batches), their summed seconds,
    and uploads committed."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    out = {"publishes": 0.0, "publish_seconds": 0.0, "uploads_in_batches": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "stockyard_publish_seconds_count":
                out["publishes"] += sample.value
            elif sample.name == "stockyard_publish_seconds_sum":
                out["publish_seconds"] += sample.value
            elif sample.name == "stockyard_upload_batch_size_sum":
                out["uploads_in_batches"] += sample.value
    return out


class S3Requests:
    """Counts the requests moto's S3 server logged (one line each) since the last `take()`."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = log.stat().st_size if log.exists() else 0

    def take(self) -> int:
        with open(self.log, "rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        self.offset += len(chunk)
        # One line per request; werkzeug colours some status lines (404, 204) with ANSI codes
        # inside the quotes, so count the protocol, not the closing quote.
        return chunk.count(b"HTTP/1.1")


def start_replica(stack: ExitStack, workdir: Path, index: int, env: dict[str, str]) -> LiveServer:
    data = workdir / f"replica{index}" / "data"
    data.parent.mkdir(parents=True, exist_ok=True)
    return stack.enter_context(live_server(data, "--no-reindex", env=env))


def prepare_served_channel(
    settings: Settings, count: int, subdir: str
) -> tuple[str, dict[str, Any]]:
    """Bootstrap the deployment (channel `main`, admin token), insert `count` records into
    `subdir` and publish once; returns the admin token and what was built."""
    boot = bootstrap(settings, reindex=False)
    if boot.admin_token is None:
        raise RuntimeError("bootstrap created no admin token")
    catalog = open_catalog(settings)
    try:
        channel = catalog.get_channel(CHANNEL)
        assert channel is not None
        started = time.perf_counter()
        fill_rows(catalog, channel.id, count, subdirs=((subdir, 1.0),))
        fill_seconds = time.perf_counter() - started
    finally:
        catalog.close()
    started = time.perf_counter()
    publish_channel(settings, CHANNEL)
    publish_seconds = time.perf_counter() - started
    info = layout_for(settings).store(CHANNEL).stat(f"{subdir}/repodata.json")
    return boot.admin_token, {
        "records": count,
        "subdir": subdir,
        "repodata_json_bytes": info.size if info else None,
        "fill_seconds": round(fill_seconds, 2),
        "first_publish_seconds": round(publish_seconds, 2),
    }


# --- 1. upload to installable everywhere -------------------------------------------------------


def _lists(
    client: httpx.Client, base: str, subdir: str, needle: bytes, etags: dict[str, str]
) -> bool:
    """Whether `base` serves a repodata.json listing `needle`. Conditional: a 304 means the
    copy this thread last read there (fetched before the upload began) is still current."""
    headers = {"accept-encoding": "identity"}
    if base in etags:
        headers["if-none-match"] = etags[base]
    response = client.get(f"{base}/{CHANNEL}/{subdir}/repodata.json", headers=headers)
    if response.status_code != 200:
        return False
    if "etag" in response.headers:
        etags[base] = response.headers["etag"]
    return needle in response.content


def upload_to_everywhere(
    replicas: list[str],
    token: str,
    subdir: str,
    batches: list[list[Path]],
    *,
    within: float = 60.0,
) -> dict[str, Any]:
    """Each thread uploads its batch one after another, to the replicas in turn (one shared
    counter), and times each upload until every replica lists it."""
    totals: list[float] = []
    posts: list[float] = []
    after: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    turn = itertools.count()

    def uploader(batch: list[Path]) -> None:
        etags: dict[str, str] = {}
        with httpx.Client(timeout=120) as client:
            for path in batch:
                target = replicas[next(turn) % len(replicas)]
                started = time.perf_counter()
                response = upload(client, target, token, path)
                posted = time.perf_counter()
                if response.status_code != 201:
                    with lock:
                        failures.append(f"{path.name}: {response.status_code} {response.text}")
                    continue
                needle = f'"{path.name}"'.encode()
                pending = list(replicas)
                while True:
                    pending = [b for b in pending if not _lists(client, b, subdir, needle, etags)]
                    if not pending or time.perf_counter() - started > within:
                        break
                    time.sleep(0.01)
                done = time.perf_counter()
                with lock:
                    if pending:
                        failures.append(f"{path.name}: not on {pending} after {within} s")
                    else:
                        totals.append(done - started)
                        posts.append(posted - started)
                        after.append(done - posted)

    before = {base: publish_metrics(base) for base in replicas}
    started = time.perf_counter()
    threads = [threading.Thread(target=uploader, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    publishes = {"publishes": 0.0, "publish_seconds": 0.0, "uploads_in_batches": 0.0}
    for base in replicas:
        now = publish_metrics(base)
        for key in publishes:
            publishes[key] += now[key] - before[base][key]
    count = publishes["publishes"] or 1
    return {
        "replicas": len(replicas),
        "uploaders": len(batches),
        "uploads": len(totals),
        "seconds": round(seconds, 2),
        "failures": failures[:10],
        "upload_to_installable_everywhere": summary(totals),
        "upload_201_only": summary(posts),
        "after_201_until_every_replica": summary(after),
        "server_publishes": {
            "publishes": int(publishes["publishes"]),
            "uploads_per_publish": round(publishes["uploads_in_batches"] / count, 2),
            "mean_publish_ms": round(publishes["publish_seconds"] / count * 1000, 1),
        },
    }


# --- 2. requests per second behind nginx -----------------------------------------------------


def measure_rps(
    targets: dict[str, str],
    groups: dict[str, Any],
    subdir: str,
    package: str,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, dict[str, Any]]:
    """wrk on every scenario and target, interleaved round -> scenario -> target (load from
    elsewhere hits every target alike); the best round of each counts, with its CPU use."""
    prepared = {name: prepared_requests(url, subdir, package) for name, url in targets.items()}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {scenario: [] for scenario in SCENARIOS} for name in targets
    }
    for _ in range(args.rounds):
        for scenario in SCENARIOS:
            for name in targets:
                url, headers, _status, _size = prepared[name][scenario]
                with cpu_meter(groups, waited_child="wrk") as cpu:
                    result = run_wrk(url, headers, args, workdir)
                runs[name][scenario].append({**result, "cpu": cpu})
    out: dict[str, dict[str, Any]] = {}
    for name in targets:
        out[name] = {}
        for scenario in SCENARIOS:
            rounds = runs[name][scenario]
            best = max(rounds, key=lambda r: r["rps"])
            errors = {kind: sum(r["errors"][kind] for r in rounds) for kind in rounds[0]["errors"]}
            out[name][scenario] = {
                **best,
                "errors": errors,
                "rps_rounds": [r["rps"] for r in rounds],
                "body_bytes": prepared[name][scenario][3],
            }
    return out


# --- 3. publish one added artifact on a big catalog -------------------------------------------

#: Run in a fresh process (as `stockyard serve` does at start, and as `stockyard index` would):
#: publish the channel, optionally under cProfile. Prints the work time as JSON: the modules the
#: publish imports lazily and the storage client are loaded first, so the work time (and the
#: profile) is the publish itself, as `stockyard index --json` reports it.
PUBLISH_SNIPPET = r"""
import cProfile, json, sys, time
import stockyard.index.run, stockyard.index.ingest, stockyard.publish.subdir
from stockyard.config import load_settings
from stockyard.server.channels import layout_for, publish_channel
settings = load_settings(overrides={"data_dir": sys.argv[1]})
layout_for(settings).store("main").stat("noarch/repodata.json")
profile = cProfile.Profile() if sys.argv[2] else None
started = time.perf_counter()
if profile:
    profile.enable()
publish_channel(settings, "main")
if profile:
    profile.disable()
    profile.dump_stats(sys.argv[2])
print(json.dumps({"work_seconds": round(time.perf_counter() - started, 3)}))
"""


def _publish_in_process(data: Path, env: dict[str, str], profile: Path | None) -> dict[str, Any]:
    result = run_measured(
        [sys.executable, "-c", PUBLISH_SNIPPET, str(data), str(profile or "")],
        env={**os.environ, **env},
    )
    if result.returncode != 0:
        raise RuntimeError(f"publish failed: {result.stderr[-3000:]}")
    work = json.loads(result.stdout.strip().splitlines()[-1])
    return {**result.as_dict(), **work}


def top_functions(profile: Path, limit: int = 20) -> list[str]:
    """The `limit` functions with the most cumulative time, as pstats prints them."""
    stream = io.StringIO()
    stats = pstats.Stats(str(profile), stream=stream)
    stats.sort_stats("cumulative").print_stats(limit)
    lines = [line.rstrip() for line in stream.getvalue().splitlines()]
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return [line for line in lines[start:] if line.strip()]


def big_catalog(
    kind: str,
    env: dict[str, str],
    args: argparse.Namespace,
    workdir: Path,
    s3_log: Path,
    subdir: str = "linux-64",
) -> dict[str, Any]:
    """Fill, publish whole, then publish one added artifact twice over (index run, uploads)."""
    data = workdir / f"big-{kind}" / "data"
    data.parent.mkdir(parents=True, exist_ok=True)
    settings = settings_for(data, env)
    boot = bootstrap(settings, reindex=False)
    token = boot.admin_token
    assert token is not None
    catalog = open_catalog(settings)
    try:
        channel = catalog.get_channel(CHANNEL)
        assert channel is not None
        started = time.perf_counter()
        per_subdir = fill_rows(catalog, channel.id, args.records)
        fill_seconds = time.perf_counter() - started
        started = time.perf_counter()
        settle_after_bulk_load(catalog)
        settle_seconds = time.perf_counter() - started
    finally:
        catalog.close()
    out: dict[str, Any] = {
        "fill_seconds": round(fill_seconds, 1),
        "vacuum_analyze_seconds": round(settle_seconds, 1),
        "per_subdir": per_subdir,
    }
    print(f"[{kind}] filled {args.records} records in {fill_seconds:.0f}s", file=sys.stderr)
    out["first_publish"] = _publish_in_process(data, env, None)
    print(f"[{kind}] first publish {out['first_publish']}", file=sys.stderr)
    store = layout_for(settings).store(CHANNEL)
    info = store.stat(f"{subdir}/repodata.json")
    out["subdir"] = subdir
    out["repodata_json_bytes"] = info.size if info else None

    # (a) index runs, one after another: an artifact put into the channel's store, then publish
    runs: list[dict[str, Any]] = []
    requests = S3Requests(s3_log)
    for index in range(args.publish_uploads):
        extra = make_artifact(
            workdir / "extra" / kind, f"scale-index-{kind}-{index}", "1.0", "h0_0", subdir=subdir
        )
        store.put(f"{subdir}/{extra.name}", extra.read_bytes())
        requests.take()  # not the artifact's PUT
        profile = workdir / f"profile-index-add-one-{kind}-{index}.prof" if args.profile else None
        run = _publish_in_process(data, env, profile)
        run["s3_requests"] = requests.take()
        if profile is not None:
            run["profile_top"] = top_functions(profile)
            run["profile_file"] = str(profile)
        runs.append(run)
        print(f"[{kind}] index add one {run['seconds']}s", file=sys.stderr)
    out["index_add_one"] = {
        "runs": runs,
        # The first run follows the whole publish; the median is the steady state.
        "first_seconds": runs[0]["seconds"],
        "seconds": statistics.median(run["seconds"] for run in runs),
        "work_seconds": statistics.median(run["work_seconds"] for run in runs),
    }

    # (b) uploads to a running server, one at a time: each 201 comes after its publish
    posts: list[float] = []
    with live_server(data, "--no-reindex", env=env) as server:
        before = publish_metrics(server.url)
        requests.take()  # not the server's start
        with httpx.Client(timeout=600) as client:
            for index in range(args.publish_uploads):
                artifact = make_artifact(
                    workdir / "extra" / kind,
                    f"scale-upload-{kind}-{index}",
                    "1.0",
                    "h0_0",
                    subdir=subdir,
                )
                started = time.perf_counter()
                response = upload(client, server.url, token, artifact)
                if response.status_code != 201:
                    raise RuntimeError(f"upload: {response.status_code} {response.text}")
                posts.append(time.perf_counter() - started)
        after = publish_metrics(server.url)
        s3_requests = requests.take()
    publishes = after["publishes"] - before["publishes"] or 1
    out["upload_add_one"] = {
        "post_201_seconds": [round(p, 3) for p in posts],
        "median_seconds": round(statistics.median(posts), 3),
        "server_publish_mean_seconds": round(
            (after["publish_seconds"] - before["publish_seconds"]) / publishes, 3
        ),
        "s3_requests_per_upload": round(s3_requests / max(1, len(posts)), 1),
    }
    print(f"[{kind}] upload add one {out['upload_add_one']}", file=sys.stderr)
    return out


def publish_comparison(
    s3: Any, args: argparse.Namespace, workdir: Path, s3_log: Path
) -> dict[str, Any]:
    out: dict[str, Any] = {"records": args.records}
    out["sqlite_local"] = big_catalog("sqlite_local", {}, args, workdir, s3_log)
    with fresh_database(args.pg_url) as db:
        env = replica_env(s3, db, "big")
        out["postgres_s3"] = big_catalog("postgres_s3", env, args, workdir, s3_log)
    local, remote = out["sqlite_local"], out["postgres_s3"]
    out["ratio_postgres_s3_over_sqlite_local"] = {
        "index_add_one_wall": round(
            remote["index_add_one"]["seconds"] / local["index_add_one"]["seconds"], 2
        ),
        "index_add_one_work": round(
            remote["index_add_one"]["work_seconds"] / local["index_add_one"]["work_seconds"], 2
        ),
        "upload_add_one_201": round(
            remote["upload_add_one"]["median_seconds"] / local["upload_add_one"]["median_seconds"],
            2,
        ),
        "first_publish_wall": round(
            remote["first_publish"]["seconds"] / local["first_publish"]["seconds"], 2
        ),
    }
    return out


# --- orchestration --------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: under 3 minutes")
    parser.add_argument("--count", type=int, help="records in the served channel (3000)")
    parser.add_argument("--replicas", type=int, default=3, help="measure 1..N replicas (3)")
    parser.add_argument("--uploads", type=int, help="uploads per replica count (60)")
    parser.add_argument("--uploaders", type=int, help="concurrent uploaders (4)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (5)")
    parser.add_argument("--rounds", type=int, help="wrk runs per scenario and target (2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--records",
        type=int,
        help="records of the big catalog (200000; --quick: 5000; the issue asks for 1000000)",
    )
    parser.add_argument(
        "--publish-uploads", type=int, help="index runs and uploads timed on each big catalog (3)"
    )
    parser.add_argument("--skip", default="", help=f"comma-separated parts to skip: {PARTS}")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the add-one index runs (stats files in the workdir, top lines in the JSON)",
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (admin URL)")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    args = parser.parse_args()
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.skip = set(filter(None, args.skip.split(",")))
    if args.skip - set(PARTS):
        parser.error(f"--skip: unknown parts {sorted(args.skip - set(PARTS))}")
    return args


def _latency(
    servers: list[LiveServer],
    token: str,
    subdir: str,
    args: argparse.Namespace,
    workdir: Path,
    tag: str,
    groups: dict[str, Callable[[], list[int]]],
) -> dict[str, Any]:
    batches = _build_uploads(workdir / "uploads", subdir, args.uploaders, args.uploads, tag)
    with cpu_meter(groups) as cpu:
        result = upload_to_everywhere([s.url for s in servers], token, subdir, batches)
    result["cpu"] = cpu
    print(f"latency {tag}: {result['upload_to_installable_everywhere']}", file=sys.stderr)
    return result


def serving(s3: Any, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Parts 1 and 2: first the embedded default (one server, SQLite + local files) as the
    reference, then one PostgreSQL + S3 deployment whose replicas start one after the other."""
    subdir = "linux-64"
    out: dict[str, Any] = {}
    latency: dict[str, Any] = {}
    replicas: list[LiveServer] = []
    groups: dict[str, Callable[[], list[int]]] = {
        "servers": lambda: [r.process.pid for r in replicas],
        "moto": lambda: [s3.process.pid],
        "postgres": lambda: pids_named("postgres"),
    }
    if "latency" not in args.skip:
        settings = settings_for(workdir / "embedded" / "data", {})
        token, out["embedded_channel"] = prepare_served_channel(settings, args.count, subdir)
        with live_server(settings.data_path, "--no-reindex") as server:
            replicas.append(server)
            latency["embedded_sqlite_local"] = _latency(
                replicas, token, subdir, args, workdir, "embedded", groups
            )
            replicas.clear()
    with fresh_database(args.pg_url) as db, ExitStack() as stack:
        env = replica_env(s3, db, "serve")
        settings = settings_for(workdir / "prepare" / "data", env)
        token, out["channel"] = prepare_served_channel(settings, args.count, subdir)
        for n in range(1, args.replicas + 1):
            replicas.append(start_replica(stack, workdir, n, env))
            if "latency" not in args.skip:
                latency[f"replicas_{n}"] = _latency(
                    replicas, token, subdir, args, workdir, f"r{n}", groups
                )
        if latency:
            out["upload_to_installable"] = latency
        if "rps" in args.skip:
            return out
        package = make_artifact(
            workdir / "download", "scale-download", "1.0", "h0_0", subdir=subdir
        )
        with httpx.Client(timeout=60) as client:
            response = upload(client, replicas[0].url, token, package)
            if response.status_code != 201:
                raise RuntimeError(f"upload: {response.status_code} {response.text}")
        # The first replica without nginx: what the proxy costs.
        targets: dict[str, str] = {"replica_direct": replicas[0].url}
        nginx_pids: list[int] = []
        for n in range(1, args.replicas + 1):
            port = free_port()
            nginx_pids.append(
                stack.enter_context(
                    round_robin_nginx(workdir, f"nginx-{n}", port, [r.url for r in replicas[:n]])
                )
            )
            targets[f"nginx_replicas_{n}"] = f"http://127.0.0.1:{port}"
        groups["nginx"] = lambda: list(nginx_pids)
        out["package_bytes"] = package.stat().st_size
        out["requests_per_second"] = measure_rps(
            targets, groups, subdir, package.name, args, workdir
        )
    return out


def targets_met(document: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets against this run's numbers."""
    met: dict[str, Any] = {}
    latency = document.get("upload_to_installable", {})
    if latency:
        met["upload_to_installable_p95_under_1s"] = {
            name: run["upload_to_installable_everywhere"].get("p95_ms", 1e9) < 1000
            for name, run in latency.items()
        }
    ratios = document.get("publish_one_added", {}).get("ratio_postgres_s3_over_sqlite_local")
    if ratios:
        met["publish_one_added_at_most_2x_local"] = {
            name: value <= 2.0 for name, value in ratios.items() if "add_one" in name
        }
    return met


def main() -> None:
    args = parse_args()
    if "rps" not in args.skip and (NGINX is None or not Path(WRK).exists()):
        raise SystemExit("needs nginx and wrk (apt-get install nginx-light wrk)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="stockyard-bench-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    document: dict[str, Any] = {
        "benchmark": "scale",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load_before]},
        "options": {
            k: (sorted(v) if isinstance(v, set) else v)
            for k, v in vars(args).items()
            if k not in {"workdir", "pg_url"}
        },
    }
    try:
        s3_log = workdir / "moto.log"
        with s3_server(log=s3_log) as s3:
            s3.create_bucket(BUCKET)
            if not {"latency", "rps"} <= args.skip:
                document.update(serving(s3, args, workdir))
            if "publish" not in args.skip:
                document["publish_one_added"] = publish_comparison(s3, args, workdir, s3_log)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    document["targets_met"] = targets_met(document)
    document["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    document["seconds"] = round(time.perf_counter() - started, 1)
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
