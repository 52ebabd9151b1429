"""Proxy benchmark: a `stockyard serve` proxy channel against nginx `proxy_cache` on one upstream.

The upstream is rattler-index output (py-rattler's `index_fs`, CEP 16 shards and `.zst`) over a
synthesized channel (`stockyard.testing.corpus.synthesize_channel`: real metadata, incompressible
payloads of about each record's real size, capped by --payload-kib), served by the plain
threaded static file server of benchmarks/mirror.py (HTTP/1.1 keep-alive, `Last-Modified` and
`If-Modified-Since`, no ETag) in a child process of its own, so its CPU is counted apart, and
logging every request. In front of it, side by side:

- `stockyard serve` (`--workers 1`) with proxy channels of the upstream
  (`stockyard channel create NAME --proxy URL`);
- nginx (Debian's nginx-light) as the reference read-through cache: `proxy_cache` with
  `proxy_cache_lock` (one upstream transfer per key) and `proxy_cache_revalidate` (conditional
  requests after the TTL); artifacts and shards cached for 30 days, documents for --doc-ttl
  seconds under `doc*` (as the Stockyard channels they are compared with), 60 s elsewhere.

Each figure uses channels (URL prefixes, separate cache entries on both sides) of its own:

- repodata (`doc0` ... `doc<K-1>`, TTL --doc-ttl): the first `linux-64/repodata.json` (cold
  cache), the same again (cached), and once more after the TTL (revalidated: a conditional
  request upstream, answered 304);
- artifacts (`art`, TTL 3600 s so that no revalidation of repodata falls inside the pass):
  `--artifacts` distinct artifacts, each asked once (cold: fetched from upstream) and once again
  (cached), interleaved per artifact between the two proxies (and a direct upstream GET, for
  reference); then requests per second for one cached artifact of median size with wrk
  (`--threads`, `--connections`, `--duration` s, `--rounds` rounds interleaved, best reported),
  also for the same file in a plain channel `local` of the same server (what the proxy's
  lookups add) and through a `stockyard serve --workers N` per --extra-workers;
- py-rattler solve + install of `--specs` through `rat` (TTL 60 s): cold (empty proxy cache,
  empty client cache), then warm (the proxy's cache filled, the client's empty again), and
  directly from the upstream for reference; each in a fresh process.

Latencies are wall times of one sequential client (httpx, keep-alive) to the whole body,
`Accept-Encoding: identity`. CPU of the server tree, nginx, the upstream and wrk comes from
/proc (benchmarks/_cpu.py). Prints one JSON document, progress on stderr. Usage (as root, with
Debian's nginx-light and wrk):

    .venv/bin/python benchmarks/proxy.py --count 1000 --corpus /tmp/bench-proxy/corpus1k
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the test helpers start servers exactly as the tests do
sys.path.insert(0, str(HERE))

from tests.deploy.nginx_live import NGINX, nginx_head  # noqa: E402
from tests.server.live import free_port, live_server, stockyard  # noqa: E402

from _cpu import cpu_meter  # noqa: E402
from _measure import run_measured  # noqa: E402
from index import _copy_tree  # noqa: E402
from mirror import (  # noqa: E402
    CHANNEL,
    SUBDIRS,
    Upstream,
    _handler,
    build_corpus,
    rattler_index,
)
from serve import WRK, nginx, run_wrk  # noqa: E402

LOG_PATH = "/__log"
ART_TTL = 3600
RATTLER_TTL = 60
#: The default --specs: every name of the default corpus (1,000 artifacts, seed 0) that
#: py-rattler solves without virtual packages (the synthesized records are a random sample of
#: real repodata, so most names miss a dependency).
DEFAULT_SPECS = (
    "zlib", "sqlite", "openssl", "magma-cuda111", "magma-cuda115", "magma-cuda117",
    "cuda80", "cuda91", "_r-xgboost-mutex",
)  # fmt: skip
RATTLER_RUN = """
import asyncio, json, os, sys, time
from pathlib import Path
import rattler
url, tmp, prefix, *specs = sys.argv[1:]
tmp = Path(tmp)
async def run():
    started = time.perf_counter()
    gateway = rattler.Gateway(
        cache_dir=tmp / "cache", default_config=rattler.SourceConfig(sharded_enabled=True)
    )
    records = await rattler.solve(
        [url], specs, gateway=gateway, platforms=["linux-64", "noarch"], virtual_packages=[]
    )
    solved = time.perf_counter()
    await rattler.install(
        records, target_prefix=Path(prefix), cache_dir=tmp / "pkgs", show_progress=False,
        platform=rattler.Subdir("linux-64"),
    )
    done = time.perf_counter()
    print(json.dumps({
        "solve_s": round(solved - started, 4), "install_s": round(done - solved, 4),
        "records": len(records), "bytes": sum(r.size or 0 for r in records),
    }))
asyncio.run(run())
sys.stdout.flush()
os._exit(0)  # py-rattler 0.28 can crash in interpreter finalization (after the work is done)
"""


def progress(message: str) -> None:
    print(f"[proxy-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the upstream, in a process of its own ----------------------------------------------------


def _serve_upstream(root: str, conn: Connection) -> None:
    """The child: mirror.py's static server, plus `GET /__log` (the requests so far, as JSON)."""
    import functools
    import http.server

    state = Upstream(Path(root))

    class Handler(_handler(state)):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:  # noqa: N802 (http.server names it)
            if self.path != LOG_PATH:
                super().do_GET()
                return
            with state.lock:
                body = json.dumps(state.log).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    handler = functools.partial(Handler, directory=root)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    conn.send(httpd.server_address[1])
    httpd.serve_forever()


@dataclass
class UpstreamProcess:
    base: str
    pid: int

    @property
    def url(self) -> str:
        return f"{self.base}/{CHANNEL}"

    def log(self) -> list[tuple[str, int, int]]:
        entries = httpx.get(f"{self.base}{LOG_PATH}", timeout=30).json()
        return [(path, status, size) for path, status, size in entries if path != LOG_PATH]

    def mark(self) -> int:
        return len(self.log())

    def since(self, start: int) -> dict[str, Any]:
        view = Upstream(Path("."))
        view.log = self.log()
        return view.since(start)

    def paths_since(self, start: int) -> list[tuple[str, int]]:
        return [(path, status) for path, status, _ in self.log()[start:]]


@contextmanager
def upstream_process(root: Path) -> Iterator[UpstreamProcess]:
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_serve_upstream, args=(str(root), child), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the upstream server did not start")
        port = parent.recv()
        assert process.pid is not None
        yield UpstreamProcess(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()
        process.join(10)


# --- nginx proxy_cache ----------------------------------------------------------------------


def nginx_conf(prefix: Path, port: int, upstream_port: int, doc_ttl: int) -> str:
    """nginx as a read-through cache of the upstream, one URL prefix per channel (the cache
    key is the whole URI, so each prefix has entries of its own, as each Stockyard channel
    has its own cache). Artifacts and shards (immutable) for 30 days; documents for the TTL
    of the Stockyard channel of the same name, then revalidated."""
    prefix = prefix.resolve()
    channel = r"[a-z0-9._-]+"
    common = f"""proxy_pass http://conda_upstream/{CHANNEL}/$rest;"""

    def location(pattern: str, valid: str) -> str:
        return f"""        location ~ {pattern} {{
            {common}
            proxy_cache_valid {valid};
        }}"""

    locations = "\n".join(
        [
            location(rf"^/{channel}/(?<rest>[a-z0-9-]+/[^/]+\.(conda|tar\.bz2))$", "200 30d"),
            location(rf"^/{channel}/(?<rest>[a-z0-9-]+/shards/[^/]+)$", "200 30d"),
            location(r"^/doc[0-9]+/(?<rest>.+)$", f"200 404 {doc_ttl}s"),
            location(rf"^/{channel}/(?<rest>.+)$", f"200 404 {RATTLER_TTL}s"),
        ]
    )
    return (
        nginx_head(prefix, access_log="off")
        + f"""    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    upstream conda_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 16;
    }}
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=conda:16m max_size=20g
        inactive=30d use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        proxy_cache conda;
        proxy_cache_key $uri;
        proxy_cache_lock on;
        proxy_cache_lock_timeout 60s;
        proxy_cache_revalidate on;
        proxy_cache_use_stale error timeout http_500 http_502 http_503 http_504;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        add_header X-Cache-Status $upstream_cache_status always;
{locations}
    }}
}}
"""
    )


def tree_pids(root: int) -> Callable[[], list[int]]:
    return lambda: [root]


# --- measuring ------------------------------------------------------------------------------


def timed_get(client: httpx.Client, url: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return elapsed, response


def once_ms(url: str) -> float:
    with httpx.Client(timeout=120, headers={"accept-encoding": "identity"}) as client:
        return round(timed_get(client, url)[0] * 1000, 1)


def summary(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {}
    ordered = sorted(seconds)
    ms = [s * 1000 for s in ordered]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2),
        "min_ms": round(ms[0], 2),
        "max_ms": round(ms[-1], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def upstream_listing(channel: Path) -> list[tuple[str, int]]:
    """(subdir/filename, size) of every artifact the upstream lists, sorted."""
    out = []
    for subdir in SUBDIRS:
        document = json.loads((channel / subdir / "repodata.json").read_bytes())
        for section in ("packages", "packages.conda"):
            for filename, record in (document.get(section) or {}).items():
                out.append((f"{subdir}/{filename}", int(record["size"])))
    return sorted(out)


def create_channels(data: Path, upstream: str, docs: int, doc_ttl: int) -> None:
    created = stockyard("channel", "create", "local", "--data", str(data))
    if created.returncode != 0:
        raise RuntimeError(f"channel create local: {created.stderr}")
    channels = [("art", ART_TTL), ("rat", RATTLER_TTL)]
    channels += [(f"doc{k}", doc_ttl) for k in range(docs)]
    for name, ttl in channels:
        created = stockyard(
            "channel", "create", name, "--data", str(data),
            "--proxy", upstream, "--proxy-ttl", str(ttl),
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(f"channel create {name}: {created.stderr}")


def repodata_latency(
    targets: dict[str, str], upstream: UpstreamProcess, docs: int, ttl: int
) -> dict[str, Any]:
    """First, cached and revalidated `linux-64/repodata.json` on `docs` fresh channels."""
    names = list(targets)
    first: dict[str, list[float]] = {n: [] for n in [*names, "upstream_direct"]}
    cached: dict[str, list[float]] = {n: [] for n in names}
    revalidated: dict[str, list[float]] = {n: [] for n in names}
    cache_status: dict[str, list[str]] = {"first": [], "cached": [], "revalidated": []}
    traffic: dict[str, list[Any]] = {"first": [], "revalidated": []}
    sizes: dict[str, int] = {}
    with httpx.Client(timeout=120, headers={"accept-encoding": "identity"}) as client:
        for k in range(docs):
            order = names if k % 2 == 0 else names[::-1]
            mark = upstream.mark()
            for name in order:
                seconds, response = timed_get(
                    client, f"{targets[name]}/doc{k}/linux-64/repodata.json"
                )
                first[name].append(seconds)
                sizes[name] = len(response.content)
                if name == "nginx":
                    cache_status["first"].append(response.headers.get("x-cache-status", ""))
            traffic["first"].append(upstream.paths_since(mark))
            seconds, _ = timed_get(client, f"{upstream.url}/linux-64/repodata.json")
            first["upstream_direct"].append(seconds)
            for name in order:
                seconds, response = timed_get(
                    client, f"{targets[name]}/doc{k}/linux-64/repodata.json"
                )
                cached[name].append(seconds)
                if name == "nginx":
                    cache_status["cached"].append(response.headers.get("x-cache-status", ""))
            time.sleep(ttl + 1.1)
            mark = upstream.mark()
            for name in order:
                seconds, response = timed_get(
                    client, f"{targets[name]}/doc{k}/linux-64/repodata.json"
                )
                revalidated[name].append(seconds)
                if name == "nginx":
                    cache_status["revalidated"].append(response.headers.get("x-cache-status", ""))
            traffic["revalidated"].append(upstream.paths_since(mark))
    return {
        "channels": docs,
        "ttl_s": ttl,
        "body_bytes": sizes,
        "first": {n: summary(v) for n, v in first.items()},
        "cached": {n: summary(v) for n, v in cached.items()},
        "revalidated": {n: summary(v) for n, v in revalidated.items()},
        "nginx_cache_status": cache_status,
        "upstream_requests_first_k0": traffic["first"][0],
        "upstream_requests_revalidated_k0": traffic["revalidated"][0],
        "upstream_statuses_revalidated": sorted(
            {str(status) for entries in traffic["revalidated"] for _, status in entries}
        ),
    }


def artifact_latency(
    targets: dict[str, str],
    upstream: UpstreamProcess,
    sample: list[tuple[str, int]],
    groups: dict[str, Callable[[], list[int]]],
) -> dict[str, Any]:
    """Each artifact of `sample` once cold and once cached through every target (interleaved,
    alternating which goes first), and straight from the upstream."""
    names = list(targets)
    out: dict[str, Any] = {"artifacts": len(sample), "bytes": sum(size for _, size in sample)}
    with httpx.Client(timeout=300, headers={"accept-encoding": "identity"}) as client:
        for name in names:  # the subdirs' repodata cached first: artifacts only from here on
            for subdir in SUBDIRS:
                timed_get(client, f"{targets[name]}/art/{subdir}/repodata.json")
        for phase in ("cold", "cached"):
            times: dict[str, list[float]] = {n: [] for n in [*names, "upstream_direct"]}
            statuses: dict[str, int] = {}
            mark = upstream.mark()
            wall = time.perf_counter()
            with cpu_meter(groups) as cpu:
                for i, (key, size) in enumerate(sample):
                    order = names if i % 2 == 0 else names[::-1]
                    for name in order:
                        seconds, response = timed_get(client, f"{targets[name]}/art/{key}")
                        if len(response.content) != size:
                            raise RuntimeError(f"{name} {key}: {len(response.content)} != {size}")
                        times[name].append(seconds)
                        if name == "nginx":
                            status = response.headers.get("x-cache-status", "")
                            statuses[status] = statuses.get(status, 0) + 1
                    seconds, _ = timed_get(client, f"{upstream.url}/{key}")
                    times["upstream_direct"].append(seconds)
            wall = time.perf_counter() - wall
            traffic = upstream.since(mark)
            out[phase] = {
                **{n: summary(v) for n, v in times.items()},
                "nginx_cache_status": statuses,
                "upstream_artifact_requests": traffic["artifact_requests"],
                "upstream_artifact_requests_expected": len(sample) * (len(names) + 1)
                if phase == "cold"
                else len(sample),
                "upstream_other_requests": traffic["metadata_requests"],
                "wall_s": round(wall, 2),
                "cpu": cpu,
                "cpu_ms_per_artifact": {
                    group: round(cores * wall / len(sample) * 1000, 2)
                    for group, cores in cpu["cores"].items()
                },
            }
    return out


def _wrk_channel(target: str) -> str:
    return "local" if target == "stockyard_local_channel" else "art"


def wrk_rounds(
    targets: dict[str, str],
    key: str,
    args: argparse.Namespace,
    workdir: Path,
    groups: dict[str, Callable[[], list[int]]],
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    with httpx.Client(timeout=60) as client:
        for name, base in targets.items():
            url = f"{base}/{_wrk_channel(name)}/{key}"
            response = client.get(url, headers={"accept-encoding": "identity"})
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.status_code}")
    for round_no in range(args.rounds):
        for name, base in targets.items():
            progress(f"wrk round {round_no + 1}: {name}")
            with cpu_meter(groups, waited_child="wrk") as cpu:
                result = run_wrk(f"{base}/{_wrk_channel(name)}/{key}", {}, args, workdir)
            runs[name].append({**result, "cpu": cpu})
    out: dict[str, Any] = {}
    for name, rounds in runs.items():
        best = max(rounds, key=lambda r: r["rps"])
        out[name] = {**best, "rps_rounds": [r["rps"] for r in rounds]}
    return out


def rattler_case(
    url: str, specs: list[str], tmp: Path, upstream: UpstreamProcess
) -> dict[str, Any]:
    tmp.mkdir(parents=True)
    # The synthesized packages carry binary prefix placeholders: the prefix must be shorter
    # than `/opt/anaconda1anaconda2anaconda3`, so it lives in a short folder of /tmp.
    short = Path(tempfile.mkdtemp(prefix="pxb", dir="/tmp"))
    mark = upstream.mark()
    try:
        run = run_measured(
            [sys.executable, "-c", RATTLER_RUN, url, str(tmp), str(short / "e"), *specs]
        )
    finally:
        shutil.rmtree(short, ignore_errors=True)
    traffic = upstream.since(mark)
    out: dict[str, Any] = {**run.as_dict(), "returncode": run.returncode}
    if run.returncode == 0:
        out.update(json.loads(run.stdout.strip().splitlines()[-1]))
    else:
        out["stderr_tail"] = run.stderr[-2000:]
    out["upstream"] = {
        k: traffic[k] for k in ("requests", "statuses", "artifact_requests", "bytes")
    }
    return out


def rattler_runs(
    targets: dict[str, str], specs: list[str], work: Path, upstream: UpstreamProcess
) -> dict[str, Any]:
    out: dict[str, Any] = {"specs": specs}
    out["upstream_direct"] = rattler_case(upstream.url, specs, work / "direct", upstream)
    for name, base in targets.items():
        for phase in ("cold", "warm"):
            progress(f"rattler {name} {phase}")
            out[f"{name}_{phase}"] = rattler_case(
                f"{base}/rat", specs, work / f"{name}-{phase}", upstream
            )
    return out


# --- the run --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "proxy",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine_start": machine(),
        "payload_kib_cap": args.payload_kib,
    }
    corpus = args.corpus or work / "corpus"
    progress("corpus")
    out["synthesize_seconds"] = build_corpus(corpus, args.count, args.payload_kib)
    channel = work / "served" / CHANNEL
    channel.mkdir(parents=True)
    _copy_tree(corpus, channel)
    for subdir in SUBDIRS:
        (channel / subdir).mkdir(exist_ok=True)
    out["rattler_index_seconds"] = round(rattler_index(channel), 2)
    listing = upstream_listing(channel)
    sizes = sorted(size for _, size in listing)
    out["upstream"] = {
        "artifacts": len(listing),
        "bytes": sum(sizes),
        "size_p10_p50_p90_max": [sizes[int(len(sizes) * q)] for q in (0.1, 0.5, 0.9)] + [sizes[-1]],
        "linux_64_repodata_json_bytes": (channel / "linux-64" / "repodata.json").stat().st_size,
    }
    sample = random.Random(args.seed).sample(listing, min(args.artifacts, len(listing)))
    ordered = sorted(sample, key=lambda item: item[1])
    key, size = ordered[len(ordered) // 2]  # wrk's artifact: the median size of the sample
    data = work / "proxy-data"
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(upstream_process(channel.parent))
        create_channels(data, upstream.url, args.docs, args.doc_ttl)
        # The same artifact in a plain channel (indexed at the server's start): what serving
        # it costs without the proxy's checks, for the wrk comparison.
        local = data / "channels" / "local" / key
        local.parent.mkdir(parents=True)
        shutil.copy2(channel / key, local)
        progress("starting stockyard serve and nginx")
        server = stack.enter_context(live_server(data, workers=1))
        port = free_port()
        conf = nginx_conf(work / "nginx", port, int(upstream.base.rsplit(":", 1)[1]), args.doc_ttl)
        nginx_url = stack.enter_context(nginx(conf, work, "nginx", port))
        nginx_pid = _nginx_master(work / "nginx")
        targets = {"stockyard": server.url, "nginx": nginx_url}
        groups = {
            "stockyard": tree_pids(server.process.pid),
            "nginx": tree_pids(nginx_pid),
            "upstream": tree_pids(upstream.pid),
        }
        out["settings"] = {
            "stockyard_workers": 1,
            "doc_ttl_s": args.doc_ttl,
            "artifact_channel_ttl_s": ART_TTL,
            "rattler_channel_ttl_s": RATTLER_TTL,
            "nginx_conf": conf,
        }
        # The first proxy request of a server process imports the proxy's modules: paid here,
        # on the artifact channel's noarch repodata (which the artifact pass reads anyway).
        out["first_proxy_request_of_the_process_ms"] = {
            name: once_ms(f"{base}/art/noarch/repodata.json") for name, base in targets.items()
        }
        progress(f"repodata latency on {args.docs} channels")
        out["repodata"] = repodata_latency(targets, upstream, args.docs, args.doc_ttl)
        progress(f"artifact latency, {len(sample)} artifacts")
        out["artifacts"] = artifact_latency(targets, upstream, sample, groups)
        wrk_targets = {**targets, "stockyard_local_channel": server.url}
        for workers in args.extra_workers:
            extra = stack.enter_context(live_server(data, workers=workers))
            wrk_targets[f"stockyard_w{workers}"] = extra.url
            groups[f"stockyard_w{workers}"] = tree_pids(extra.process.pid)
        out["wrk"] = {
            "artifact": key,
            "bytes": size,
            "threads": args.threads,
            "connections": args.connections,
            "seconds": args.duration,
            "rounds": args.rounds,
            "results": wrk_rounds(wrk_targets, key, args, work, groups),
        }
        progress("py-rattler solve + install")
        out["rattler"] = rattler_runs(targets, list(args.specs), work / "rattler", upstream)
        out["stockyard_cache_bytes"] = _tree_bytes(data / "channels")
        out["nginx_cache_bytes"] = _tree_bytes(work / "nginx" / "cache")
    out["machine_end"] = machine()
    return out


def _nginx_master(prefix: Path) -> int:
    deadline = time.monotonic() + 10
    pid_file = prefix / "nginx.pid"
    while not pid_file.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("nginx wrote no pid file")
        time.sleep(0.05)
    return int(pid_file.read_text().strip())


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="artifacts upstream")
    parser.add_argument("--corpus", type=Path, help="reuse (or create) the corpus here")
    parser.add_argument("--payload-kib", type=int, default=1024, help="payload cap per artifact")
    parser.add_argument("--artifacts", type=int, default=200, help="distinct artifacts timed")
    parser.add_argument("--seed", type=int, default=0, help="which artifacts are timed")
    parser.add_argument("--docs", type=int, default=5, help="channels for repodata latency")
    parser.add_argument("--doc-ttl", type=int, default=1, help="their TTL (seconds)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per target")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--extra-workers", type=int, nargs="*", default=[2],
        help="also wrk a `stockyard serve --workers N` on the same data (each N)",
    )  # fmt: skip
    parser.add_argument("--specs", nargs="+", default=list(DEFAULT_SPECS), help="py-rattler")
    parser.add_argument("--workdir", type=Path, help="keep everything here (must not exist)")
    args = parser.parse_args()
    if NGINX is None or not Path(WRK).exists():
        raise SystemExit("needs nginx and wrk (apt-get install nginx-light wrk)")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=False)
        document = run(args, args.workdir)
    else:
        work = Path(tempfile.mkdtemp(prefix="stockyard-proxy-bench-"))
        try:
            document = run(args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
