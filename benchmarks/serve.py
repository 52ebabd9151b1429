"""Serving benchmark: `stockyard serve` against nginx on the same published channel, with wrk.

One run synthesizes a channel (real metadata, `--count` artifacts), indexes it into a
`stockyard serve` data directory, then measures against that one directory:

- requests per second (wrk, `--threads` threads, `--connections` connections, `--duration` s
  per run, `--rounds` runs interleaved across targets, best round reported: other load on a
  shared machine then hits every target alike) for a 304 revalidation of repodata.json
  (If-None-Match with the target's own ETag, set by a wrk Lua script), a full repodata.json
  without and with gzip, and a package download;
  for `stockyard serve --workers 1`, `--workers 2` (uvicorn), the same with `--http2` (the app
  on Granian, `granian_w1`/`granian_w2`), plain nginx serving the published directory
  (static only) and the documented nginx front (`stockyard deploy nginx`) before the app;
- upload-to-installable latency with `--uploaders` concurrent uploaders: from starting the
  upload POST until a client GET of repodata.json and of the package name's shard both list the
  new file (end to end, polling), directly against the app and through the nginx front.

With `--quetz`, Quetz (`quetz-server` 0.10.4, the Python peer) is measured alongside:
benchmarks/quetz_env.sh installs it into its own virtualenv (`--quetz-venv`), a Quetz
deployment (SQLite, local store) gets the same artifacts through its files endpoint, and
`quetz_w1`/`quetz_w2` (uvicorn with 1 and 2 workers) join the wrk rounds with the same requests
under `/get/`; upload-to-installable is measured for Quetz and again for `stockyard serve` with
the criterion both support (repodata.json lists the file). The JSON's `against_quetz` holds
the Stockyard/Quetz ratios and what Quetz does differently; if Quetz cannot be installed or
started, it says why there and the rest of the run goes on.

Every scenario is checked once before wrk runs (status, content-coding), and wrk's socket and
status errors are reported. Prints one JSON document. Usage (as root, with Debian's wrk and
nginx installed):

    .venv/bin/python benchmarks/serve.py [--count 3000] [--duration 5] [--rounds 3] [--uploads 100]
        [--quetz [--quetz-venv /tmp/quetz-venv]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import zstandard

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test helpers start servers exactly as the tests do
sys.path.append(str(ROOT / "benchmarks"))  # quetz_server, also when imported from elsewhere

from tests.deploy.nginx_live import NGINX, nginx_head, running_nginx, worker_user  # noqa: E402
from tests.server.artifacts import make_artifact, sha256_of  # noqa: E402
from tests.server.live import free_port, live_server  # noqa: E402

import quetz_server  # noqa: E402
from stockyard.config import Settings, load_settings  # noqa: E402
from stockyard.deploy.nginx import (  # noqa: E402
    nginx_front_for,
    render_nginx_main,
)
from stockyard.server.channels import bootstrap  # noqa: E402
from stockyard.testing.corpus import synthesize_channel  # noqa: E402

WRK = shutil.which("wrk") or "/usr/bin/wrk"

#: wrk prints this line from the Lua `done` callback: the numbers as JSON.
_WRK_LUA = """
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"errors":{{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}},'
    .. '"latency_us":{{"p50":%d,"p90":%d,"p99":%d,"max":%d}}}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

SCENARIOS = ("revalidate_304", "repodata_json", "repodata_json_gzip", "package")


def _lua_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_wrk(
    url: str, headers: dict[str, str], args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    lines = [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    script = workdir / "bench.lua"
    script.write_text(_WRK_LUA.format(headers="\n".join(lines)))
    result = subprocess.run(
        [
            *(WRK, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"),
            *("--timeout", "10s", "-s", str(script), url),
        ],
        capture_output=True,
        text=True,
        timeout=args.duration + 120,
        check=False,
    )
    found = [line for line in result.stdout.splitlines() if line.startswith("WRKJSON ")]
    if result.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed: {result.stdout}\n{result.stderr}")
    raw = json.loads(found[-1][len("WRKJSON ") :])
    seconds = raw["duration_us"] / 1e6
    return {
        "rps": round(raw["requests"] / seconds, 1),
        "requests": raw["requests"],
        "mb_per_s": round(raw["bytes"] / seconds / 1e6, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in raw["latency_us"].items()},
        "errors": raw["errors"],
    }


def _scenario_requests(
    base: str, subdir: str, package: str, client: httpx.Client
) -> dict[str, tuple[str, dict[str, str], int]]:
    """(url, headers, expected status) per scenario; the ETag is the target's own."""
    repodata = f"{base}/main/{subdir}/repodata.json"
    identity = client.get(repodata, headers={"accept-encoding": "identity"})
    identity.raise_for_status()
    return {
        "revalidate_304": (repodata, {"If-None-Match": identity.headers["etag"]}, 304),
        "repodata_json": (repodata, {}, 200),
        "repodata_json_gzip": (repodata, {"Accept-Encoding": "gzip"}, 200),
        "package": (f"{base}/main/{subdir}/{package}", {}, 200),
    }


def _preflight(
    client: httpx.Client, name: str, url: str, headers: dict[str, str], status: int
) -> int:
    # httpx adds its own Accept-Encoding; say exactly what wrk will send.
    sent = {"accept-encoding": headers.get("Accept-Encoding", "identity"), **headers}
    response = client.get(url, headers=sent)
    if response.status_code != status:
        raise RuntimeError(f"{name}: {url} answered {response.status_code}, expected {status}")
    gzipped = response.headers.get("content-encoding") == "gzip"
    if gzipped != (name == "repodata_json_gzip"):
        raise RuntimeError(f"{name}: content-encoding {response.headers.get('content-encoding')}")
    return len(response.content)


def prepared_requests(
    base: str, subdir: str, package: str, statuses: dict[str, int] | None = None
) -> dict[str, tuple[str, dict[str, str], int, int]]:
    """Each scenario's (url, headers, expected status, body bytes), checked once; `statuses`
    overrides the expected status per scenario (Quetz answers If-None-Match with 200)."""
    out = {}
    with httpx.Client(timeout=60) as client:
        for name, (url, headers, status) in _scenario_requests(
            base, subdir, package, client
        ).items():
            status = (statuses or {}).get(name, status)
            out[name] = (url, headers, status, _preflight(client, name, url, headers, status))
    return out


def measure_rounds(
    targets: dict[str, str],
    subdir: str,
    package: str,
    args: argparse.Namespace,
    workdir: Path,
    statuses: dict[str, dict[str, int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """wrk for every scenario and target, interleaved (round, scenario, target) so that load
    from elsewhere on the machine hits every target alike; each target's best round counts.
    `statuses` overrides expected statuses per target and scenario."""
    prepared = {
        name: prepared_requests(url, subdir, package, (statuses or {}).get(name))
        for name, url in targets.items()
    }
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {scenario: [] for scenario in SCENARIOS} for name in targets
    }
    for _ in range(args.rounds):
        for scenario in SCENARIOS:
            for name in targets:
                url, headers, _status, _size = prepared[name][scenario]
                runs[name][scenario].append(run_wrk(url, headers, args, workdir))
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
                "status": prepared[name][scenario][2],
                "body_bytes": prepared[name][scenario][3],
            }
    return out


# --- nginx ----------------------------------------------------------------------------------


def static_nginx_conf(settings: Settings, prefix: Path, port: int) -> str:
    """Plain nginx serving the published directory (no app), with the same static settings as
    the front (sendfile, gzip for JSON, types, Cache-Control), so the two differ only by what
    the front adds (the app's routes, the method check, the fall-through to the app)."""
    front = nginx_front_for(settings, listen=f"127.0.0.1:{port}", app="http://127.0.0.1:9")
    patterns = "\n".join(
        f'        "~{pattern}" "{value}";' for pattern, value in front.cache_controls
    )
    prefix = prefix.resolve()
    head = nginx_head(prefix, access_log=f"{prefix}/access.log")
    return (
        head
        + f"""    map $uri $stockyard_cache_control {{
        default "{front.short_cache_control}";
{patterns}
    }}
    server {{
        listen 127.0.0.1:{port};
        sendfile on;
        tcp_nopush on;
        gzip on;
        gzip_types application/json;
        gzip_vary on;
        gzip_min_length 1024;
        types {{
            application/json json;
            text/html html;
        }}
        default_type application/octet-stream;
        root {front.channels_dir};
        location / {{
            add_header Cache-Control $stockyard_cache_control;
        }}
    }}
}}
"""
    )


@contextmanager
def nginx(conf_text: str, workdir: Path, name: str, port: int) -> Iterator[str]:
    prefix = workdir / name
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(conf_text)
    with running_nginx(conf, prefix, port):
        yield f"http://127.0.0.1:{port}"


# --- upload-to-installable ------------------------------------------------------------------


def _listed(client: httpx.Client, base: str, subdir: str, name: str, filename: str) -> bool:
    """Whether repodata.json and the name's shard both list `filename`.

    repodata.json is searched as bytes for the quoted filename (a key of `packages` or
    `packages.conda`; filenames are unique), not parsed: ten polling threads parsing 1.3 MB of
    JSON under one GIL would measure the harness, not the server. The soak test
    (tests/integration/test_serve_reliability.py) parses every read in full.
    """
    repodata = client.get(
        f"{base}/main/{subdir}/repodata.json", headers={"accept-encoding": "identity"}
    )
    if repodata.status_code != 200 or f'"{filename}"'.encode() not in repodata.content:
        return False
    index_bytes = client.get(f"{base}/main/{subdir}/repodata_shards.msgpack.zst").content
    index = msgspec.msgpack.decode(zstandard.decompress(index_bytes))
    digest = index["shards"].get(name)
    if digest is None:
        return False
    shard_bytes = client.get(f"{base}/main/{subdir}/shards/{digest.hex()}.msgpack.zst").content
    shard = msgspec.msgpack.decode(zstandard.decompress(shard_bytes))
    return filename in shard.get("packages.conda", {}) or filename in shard.get("packages", {})


def listed_in_repodata(
    client: httpx.Client, base: str, subdir: str, name: str, filename: str
) -> bool:
    """Whether repodata.json lists `filename`, fetched as conda fetches it (gzip-encoded):
    the criterion for servers without shards (Quetz), applied to both sides of that
    comparison. Searched as bytes, like `_listed`."""
    response = client.get(
        f"{base}/main/{subdir}/repodata.json", headers={"accept-encoding": "gzip"}
    )
    return response.status_code == 200 and f'"{filename}"'.encode() in response.content


def upload_latency(
    upload_base: str,
    read_base: str,
    token: str,
    subdir: str,
    artifacts: list[list[Path]],
    *,
    listed: Callable[[httpx.Client, str, str, str, str], bool] = _listed,
    visible_within: float = 60.0,
) -> dict[str, Any]:
    """Each uploader thread uploads its artifacts one after another, timing each until a
    reader sees it (by default in repodata.json and in its shard; `listed` decides)."""
    totals: list[float] = []
    posts: list[float] = []
    failures: list[str] = []
    read_errors: list[str] = []
    lock = threading.Lock()

    def seen(client: httpx.Client, name: str, filename: str) -> bool:
        # A read cut short by the server, or a corrupt (torn) gzip body, counts as "not yet"
        # and is reported.
        try:
            return listed(client, read_base, subdir, name, filename)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            with lock:
                read_errors.append(f"{filename}: {type(exc).__name__}: {exc}")
            return False

    def uploader(batch: list[Path]) -> None:
        with httpx.Client(timeout=120) as client:
            for path in batch:
                name = path.name.rsplit("-", 2)[0]
                started = time.perf_counter()
                try:
                    response = client.post(
                        f"{upload_base}/api/channels/main/upload/{path.name}",
                        params={"sha256": sha256_of(path)},
                        content=path.read_bytes(),
                        headers={"X-API-Key": token},
                    )
                except httpx.TransportError as exc:
                    with lock:
                        failures.append(f"{path.name}: {type(exc).__name__}: {exc}")
                    continue
                posted = time.perf_counter()
                if response.status_code != 201:
                    with lock:
                        failures.append(f"{path.name}: {response.status_code} {response.text}")
                    continue
                deadline = started + visible_within
                while not seen(client, name, path.name):
                    if time.perf_counter() > deadline:
                        with lock:
                            failures.append(f"{path.name}: not visible after {visible_within} s")
                        break
                    time.sleep(0.01)
                else:
                    with lock:
                        totals.append(time.perf_counter() - started)
                        posts.append(posted - started)

    threads = [threading.Thread(target=uploader, args=(batch,)) for batch in artifacts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def summary(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        ordered = sorted(values)
        return {
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1),
        }

    return {
        "uploads": len(totals),
        "uploaders": len(artifacts),
        "failures": failures[:10],
        "read_errors": len(read_errors),
        "read_error_examples": read_errors[:3],
        "upload_to_installable": summary(totals),
        "upload_post_only": summary(posts),
    }


def _build_uploads(
    root: Path, subdir: str, uploaders: int, total: int, tag: str
) -> list[list[Path]]:
    per = max(1, total // uploaders)
    batches = []
    for u in range(uploaders):
        batch = []
        for i in range(per):
            fmt = "tar.bz2" if i % 4 == 0 else "conda"
            build = "h0_0" if subdir != "noarch" else "0"
            batch.append(
                make_artifact(
                    root / tag / str(u),
                    f"bench-{tag}-{u}-{i}",
                    "1.0",
                    build,
                    subdir=subdir,
                    fmt=fmt,
                )
            )
        batches.append(batch)
    return batches


# --- orchestration --------------------------------------------------------------------------


def _admin_token(banner: str) -> str:
    import re

    match = re.search(r"\b(sy-[A-Za-z0-9]{40})\b", banner)
    if not match:
        raise RuntimeError("no admin token in the server banner")
    return match.group(1)


def prepare(args: argparse.Namespace, workdir: Path) -> tuple[Settings, dict[str, Any], str]:
    corpus = workdir / "corpus"
    started = time.perf_counter()
    paths = synthesize_channel(corpus, args.count, seed=0)
    synth_seconds = time.perf_counter() - started
    data = workdir / "data"
    channel = data / "channels" / "main"
    for path in paths:
        target = channel / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    settings = load_settings(env={}, overrides={"data_dir": str(data)})
    started = time.perf_counter()
    boot = bootstrap(settings)
    index_seconds = time.perf_counter() - started
    counts: dict[str, int] = {}
    for path in paths:
        counts[path.parent.name] = counts.get(path.parent.name, 0) + 1
    subdir = max(counts, key=lambda s: counts[s])
    artifacts = sorted(
        (p for p in (channel / subdir).iterdir() if p.name.endswith((".conda", ".tar.bz2"))),
        key=lambda p: p.stat().st_size,
    )
    package = artifacts[len(artifacts) // 2]
    repodata = channel / subdir / "repodata.json"
    info = {
        "artifacts": len(paths),
        "per_subdir": counts,
        "subdir": subdir,
        "repodata_json_bytes": repodata.stat().st_size,
        "package": package.name,
        "package_bytes": package.stat().st_size,
        "synthesize_seconds": round(synth_seconds, 2),
        "index_seconds": round(index_seconds, 2),
    }
    if boot.admin_token is None:
        raise RuntimeError("bootstrap created no admin token")
    return settings, info, boot.admin_token


# --- Quetz (--quetz) -------------------------------------------------------------------------

#: What Quetz does differently from Stockyard that bears on the comparison (checked in its
#: 0.10.4 source and in this run's responses).
QUETZ_NOTES = [
    "Quetz has no conditional GET: If-None-Match is ignored and the revalidation request gets "
    "200 with the full repodata.json, so its 'revalidate_304' numbers are full-body responses "
    "(what a client revalidating against Quetz pays).",
    "Channel files are streamed by the app (local store, redirect_enabled = false, the default) "
    "at /get/<channel>/...: a StreamingResponse over a sync generator of 10 kB chunks, "
    "chunked transfer encoding (no Content-Length). Quetz's nginx guide turns on "
    "redirect_enabled (the app answers with a redirect to /files/channels/..., served by "
    "nginx); Stockyard's counterpart is its nginx front, measured as nginx_front.",
    "gzip: Quetz writes repodata.json.gz at index time and serves it for Accept-Encoding: gzip; "
    "Stockyard compresses each repodata version once in memory. Both serve precomputed bytes.",
    "Quetz sends Cache-Control: max-age=36000 (10 h, its channel ttl default) on repodata.json; "
    "warm clients may see new uploads only after that; Stockyard sends a minute by default. "
    "wrk and the upload poller ignore Cache-Control.",
    "Re-indexing is asynchronous: each upload answers 201 first, then a FastAPI background task "
    "in the same worker rebuilds every subdir's repodata.json (plus .bz2 and .gz), "
    "channeldata.json and index.html pages from the database. Stockyard publishes before it "
    "answers 201 (group commit). Both are timed until repodata.json lists the file.",
    "No shards (CEP 16) in Quetz: the upload-to-installable criterion here is repodata.json "
    "alone (fetched with Accept-Encoding: gzip, polled every 10 ms), for both servers "
    "(stockyard_w1_repodata_only). A poll the server cuts short (connection closed before or "
    "during the response) or whose gzip body is corrupt counts as not yet listed and is "
    "counted in read_errors.",
    "fsspec is pinned to 2024.5.0: with 2023.12 (Quetz's release-date resolution) its local "
    "store moves new repodata.json(.gz) into place by copying onto the old file, and readers "
    "during uploads got torn, corrupt gzip bodies; 2024.5.0 renames atomically.",
    "Workers: uvicorn --workers N serving quetz.main:app (quetz start has no worker option), "
    "the same uvicorn with uvloop and httptools as Stockyard; SQLite database, local store. "
    "Quetz's uvicorn access log (one line per request) is on, like Stockyard's JSON log.",
]


def _corpus_paths(workdir: Path) -> list[Path]:
    """The artifacts `prepare` synthesized (the ones indexed into Stockyard's channel)."""
    return sorted(
        path
        for path in (workdir / "corpus").glob("*/*")
        if path.name.endswith((".conda", ".tar.bz2"))
    )


def setup_quetz(
    args: argparse.Namespace, workdir: Path, subdir: str, package: str
) -> tuple[quetz_server.Deployment | None, str, dict[str, Any]]:
    """Install Quetz (own venv), create a deployment and load it with the same artifacts.

    Returns (deployment, API key, report); the deployment is None (and the report says why)
    when Quetz cannot be installed or started: the rest of the benchmark goes on."""
    report: dict[str, Any] = {"version": quetz_server.QUETZ_VERSION, "venv": str(args.quetz_venv)}
    started = time.perf_counter()
    python, why = quetz_server.ensure_env(args.quetz_venv, sys.executable)
    report["install_seconds"] = round(time.perf_counter() - started, 1)
    if python is None:
        return None, "", {**report, "installed": False, "reason": why}
    report["installed"] = True
    try:
        deployment = quetz_server.create_deployment(python, workdir)
        with quetz_server.running_quetz(deployment, free_port(), workers=1) as url:
            key = quetz_server.create_channel_and_key(url, "main")
            report["load"] = quetz_server.load_channel(url, key, "main", _corpus_paths(workdir))
            # The measured package must exist there too (Quetz may refuse a few artifacts).
            response = httpx.head(f"{url}/get/main/{subdir}/{package}", timeout=60)
            if response.status_code != 200:
                raise RuntimeError(f"quetz does not serve {subdir}/{package}")
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        return None, "", {**report, "started": False, "reason": str(exc)[-3000:]}
    return deployment, key, report


def stockyard_over_quetz(
    results: dict[str, dict[str, Any]], latency: dict[str, Any]
) -> dict[str, Any]:
    """Stockyard/Quetz ratios: requests/s (above 1: Stockyard serves more) per worker count,
    and upload-to-installable latency (below 1: Stockyard is faster)."""
    out: dict[str, Any] = {"requests_per_second": {}, "upload_to_installable": {}}
    for workers in (1, 2):
        ours, theirs = results.get(f"stockyard_w{workers}"), results.get(f"quetz_w{workers}")
        if ours and theirs:
            out["requests_per_second"][f"w{workers}"] = {
                scenario: round(ours[scenario]["rps"] / theirs[scenario]["rps"], 2)
                for scenario in SCENARIOS
                if theirs[scenario]["rps"]
            }
    ours, theirs = (
        latency.get("stockyard_w1_repodata_only", {}).get("upload_to_installable", {}),
        latency.get("quetz_w1", {}).get("upload_to_installable", {}),
    )
    for key in ("p50_ms", "p95_ms", "max_ms"):
        if key in ours and theirs.get(key):
            out["upload_to_installable"][key] = round(ours[key] / theirs[key], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="artifacts in the channel")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per scenario and target")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--uploads", type=int, default=100, help="uploads per latency run")
    parser.add_argument("--uploaders", type=int, default=10, help="concurrent uploaders")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    parser.add_argument(
        "--skip", default="", help="comma-separated targets to skip (stockyard_w2,...)"
    )
    parser.add_argument(
        "--quetz",
        action="store_true",
        help="also measure Quetz (quetz-server 0.10.4) with 1 and 2 workers on the same "
        "artifacts; installs it into --quetz-venv with benchmarks/quetz_env.sh",
    )
    parser.add_argument(
        "--quetz-venv",
        type=Path,
        default=Path("/tmp/quetz-venv"),
        help="Quetz's own virtualenv (created or reused; never the project's .venv)",
    )
    args = parser.parse_args()
    if NGINX is None or not Path(WRK).exists():
        raise SystemExit("needs nginx and wrk (apt-get install nginx-light wrk)")
    skip = set(filter(None, args.skip.split(",")))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="stockyard-bench-serve-"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings, corpus, token = prepare(args, workdir)
    subdir, package = corpus["subdir"], corpus["package"]
    data = settings.data_path
    quetz: quetz_server.Deployment | None = None
    quetz_report: dict[str, Any] = {}
    quetz_key = ""
    if args.quetz:
        quetz, quetz_key, quetz_report = setup_quetz(args, workdir, subdir, package)
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        targets: dict[str, str] = {}
        statuses: dict[str, dict[str, int]] = {}
        quetz_urls: dict[int, str] = {}
        if quetz is not None:
            for workers in (1, 2):
                name = f"quetz_w{workers}"
                if name not in skip or workers == 1:
                    quetz_urls[workers] = stack.enter_context(
                        quetz_server.running_quetz(quetz, free_port(), workers=workers)
                    )
                if name not in skip:
                    targets[name] = f"{quetz_urls[workers]}/get"
                    statuses[name] = {"revalidate_304": 200}
        for workers in (1, 2):
            for engine, flags in (("stockyard", ()), ("granian", ("--http2",))):
                name = f"{engine}_w{workers}"
                if name not in skip:
                    server = stack.enter_context(
                        live_server(data, "--no-reindex", *flags, workers=workers)
                    )
                    targets[name] = server.url
        if "nginx_static" not in skip:
            port = free_port()
            conf = static_nginx_conf(settings, workdir / "nginx-static", port)
            targets["nginx_static"] = stack.enter_context(
                nginx(conf, workdir, "nginx-static", port)
            )
        app = stack.enter_context(live_server(data, "--no-reindex", workers=1))
        port = free_port()
        front = nginx_front_for(settings, listen=f"127.0.0.1:{port}", app=app.url)
        prefix = workdir / "nginx-front"
        prefix.mkdir(parents=True, exist_ok=True)
        conf = render_nginx_main(front, prefix=prefix, user=worker_user())
        front_url = stack.enter_context(nginx(conf, workdir, "nginx-front", port))
        if "nginx_front" not in skip:
            targets["nginx_front"] = front_url
        results = measure_rounds(targets, subdir, package, args, workdir, statuses)
        # Upload-to-installable, once through the front and once straight to the app.
        # (the other servers stay up, idle, during the latency runs)
        latency: dict[str, Any] = {}
        uploads = _build_uploads(workdir / "uploads", subdir, args.uploaders, args.uploads, "front")
        latency["nginx_front"] = upload_latency(front_url, front_url, token, subdir, uploads)
        uploads = _build_uploads(workdir / "uploads", subdir, args.uploaders, args.uploads, "app")
        latency["stockyard_w1"] = upload_latency(app.url, app.url, token, subdir, uploads)
        if quetz is not None:
            # Same uploads, same criterion (repodata.json only: Quetz has no shards).
            uploads = _build_uploads(
                workdir / "uploads", subdir, args.uploaders, args.uploads, "appjson"
            )
            latency["stockyard_w1_repodata_only"] = upload_latency(
                app.url, app.url, token, subdir, uploads, listed=listed_in_repodata
            )
            uploads = _build_uploads(
                workdir / "uploads", subdir, args.uploaders, args.uploads, "quetz"
            )
            latency["quetz_w1"] = upload_latency(
                quetz_urls[1],
                f"{quetz_urls[1]}/get",
                quetz_key,
                subdir,
                uploads,
                listed=listed_in_repodata,
                visible_within=600.0,
            )

    ratios: dict[str, dict[str, float]] = {}
    nginx_rps = results.get("nginx_static", {})
    for name, scenarios in results.items():
        if name == "nginx_static" or not nginx_rps:
            continue
        ratios[name] = {
            scenario: round(scenarios[scenario]["rps"] / nginx_rps[scenario]["rps"], 3)
            for scenario in SCENARIOS
        }
    python_best = {
        scenario: max(
            ratios.get(n, {}).get(scenario, 0.0)
            for n in ("stockyard_w1", "stockyard_w2", "granian_w1", "granian_w2")
        )
        for scenario in SCENARIOS
    }
    p95s = [
        v["upload_to_installable"].get("p95_ms", 1e9)
        for name, v in latency.items()
        if not name.startswith("quetz")
    ]
    targets_met = {
        "upload_p95_under_1s": all(p < 1000 for p in p95s),
        "python_at_least_30pct_of_nginx": {s: r >= 0.30 for s, r in python_best.items()},
        "front_at_least_90pct_of_nginx": {
            s: r >= 0.90 for s, r in ratios.get("nginx_front", {}).items()
        },
    }
    document = {
        "benchmark": "serve",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load_before]},
        "wrk": {
            "threads": args.threads,
            "connections": args.connections,
            "seconds": args.duration,
            "rounds": args.rounds,
            "reported": "best round per target and scenario (all rounds in rps_rounds)",
        },
        "corpus": corpus,
        "requests_per_second": results,
        "ratio_to_nginx_static": ratios,
        "python_best_ratio": python_best,
        "upload_latency": latency,
        "targets_met": targets_met,
        **(
            {
                "against_quetz": {
                    **quetz_report,
                    "stockyard_over_quetz": stockyard_over_quetz(results, latency)
                    if quetz is not None
                    else {},
                    "fairness_notes": QUETZ_NOTES,
                }
            }
            if args.quetz
            else {}
        ),
        "workdir": str(workdir) if args.workdir else None,
    }
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
