"""HTTP/2 against HTTP/1.1 for sharded repodata (CEP 16), on one published channel, over TLS.

One run synthesizes a channel (real metadata, `--count` artifacts), indexes it into a
`stockyard serve` data directory, and starts on it:

- `uvicorn_h1`: `stockyard serve --tls-cert ... --tls-key ...` (the default engine, HTTP/1.1);
- `granian_h2`: `stockyard serve --http2 --tls-cert ... --tls-key ...` (Granian, h2 by ALPN).

Then, `--rounds` times, interleaved across targets (a shared machine's noise hits both alike):

- `rattler_query`: py-rattler's Gateway with sharded repodata fetches, with an empty cache, the
  records of `--names` package names *and their whole dependency closure* for linux-64 and noarch
  (`Gateway.query(..., recursive=True)`: the network part of a sharded solve). It runs in a fresh
  subprocess trusting the test CA through `SSL_CERT_FILE`; the server's access log says which
  HTTP version py-rattler used.
- `httpx_all_shards`: httpx fetching every shard of the channel's biggest subdir with
  `--concurrency` requests in flight, once over HTTP/1.1 (a pool of connections) and once over
  HTTP/2 (one connection) against the *same* Granian server, so the protocol alone differs.

Prints one JSON document with the best and median of each. Usage:

    .venv/bin/python benchmarks/http2.py [--count 3000] [--names 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import msgspec
import zstandard

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test helpers start servers exactly as the tests do

from tests.server.live import LiveServer, live_server  # noqa: E402
from tests.server.tls import Pki, make_pki  # noqa: E402

from stockyard.config import load_settings  # noqa: E402
from stockyard.server.channels import bootstrap  # noqa: E402
from stockyard.testing.corpus import synthesize_channel  # noqa: E402

QUERY = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    import rattler
    from rattler import Channel, Gateway, SourceConfig

    url, cache, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

    async def run():
        gateway = Gateway(cache_dir=cache, default_config=SourceConfig(sharded_enabled=True))
        started = time.perf_counter()
        records = await gateway.query(
            [Channel(url)], ["linux-64", "noarch"], names, recursive=True
        )
        seconds = time.perf_counter() - started
        print(json.dumps({"seconds": seconds, "records": sum(len(r) for r in records)}))

    asyncio.run(run())
    sys.stdout.flush()
    os._exit(0)  # py-rattler's runtime can crash at interpreter teardown
    """
)


def prepare(workdir: Path, count: int) -> tuple[Path, dict[str, int]]:
    paths = synthesize_channel(workdir / "corpus", count, seed=0)
    data = workdir / "data"
    channel = data / "channels" / "main"
    counts: dict[str, int] = {}
    for path in paths:
        target = channel / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
        counts[path.parent.name] = counts.get(path.parent.name, 0) + 1
    bootstrap(load_settings(env={}, overrides={"data_dir": str(data)}))
    return data, counts


def shard_urls(server: LiveServer, pki: Pki, subdir: str) -> list[str]:
    base = f"{server.url}/main/{subdir}/"
    raw = httpx.get(base + "repodata_shards.msgpack.zst", verify=pki.context()).content
    index = msgspec.msgpack.decode(zstandard.decompress(raw))
    shards_base = index["info"].get("shards_base_url") or "./shards/"
    return [
        f"{base}{shards_base.removeprefix('./')}{d.hex()}.msgpack.zst"
        for d in index["shards"].values()
    ]


def rattler_query(server: LiveServer, pki: Pki, names: list[str], workdir: Path) -> dict[str, Any]:
    start = len(server.access_log())
    cache = tempfile.mkdtemp(dir=workdir, prefix="cache-")
    result = subprocess.run(
        [sys.executable, "-c", QUERY, f"{server.url}/main", cache, json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SSL_CERT_FILE": str(pki.ca)},
        check=True,
    )
    measured = json.loads(result.stdout)
    lines = server.access_log()[start:]
    measured["requests"] = len(lines)
    measured["http_versions"] = sorted({str(line.get("http")) for line in lines})
    return measured


async def _fetch_all(urls: list[str], pki: Pki, *, http2: bool, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        http1=not http2, http2=http2, verify=pki.context(), limits=limits
    ) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(url: str) -> None:
            async with gate:
                response = await client.get(url)
                response.raise_for_status()
                if http2 and response.http_version != "HTTP/2":
                    raise RuntimeError(f"asked for h2, got {response.http_version}")

        started = time.perf_counter()
        await asyncio.gather(*(one(url) for url in urls))
        return time.perf_counter() - started


def summary(values: list[float]) -> dict[str, float]:
    return {"best_s": round(min(values), 4), "median_s": round(statistics.median(values), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="artifacts in the channel")
    parser.add_argument("--names", type=int, default=200, help="names queried (with closure)")
    parser.add_argument("--rounds", type=int, default=5, help="measurements per target")
    parser.add_argument("--concurrency", type=int, default=50, help="httpx requests in flight")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stockyard-bench-h2-"))
    data, counts = prepare(workdir, args.count)
    pki = make_pki(workdir)
    subdir = max(counts, key=lambda s: counts[s])
    tls = ("--tls-cert", str(pki.cert), "--tls-key", str(pki.key))
    with ExitStack() as stack:
        servers = {
            "uvicorn_h1": stack.enter_context(
                live_server(data, "--no-reindex", *tls, ca_file=pki.ca)
            ),
            "granian_h2": stack.enter_context(
                live_server(data, "--no-reindex", "--http2", *tls, ca_file=pki.ca)
            ),
        }
        urls = shard_urls(servers["granian_h2"], pki, subdir)
        names = _names(urls, servers["granian_h2"], pki, subdir, args.names)
        query: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        fetch: dict[str, list[float]] = {"h1_pool": [], "h2_one_connection": []}
        for _ in range(args.rounds):
            for name, server in servers.items():
                query[name].append(rattler_query(server, pki, names, workdir))
            for label, http2 in (("h1_pool", False), ("h2_one_connection", True)):
                seconds = asyncio.run(
                    _fetch_all(urls, pki, http2=http2, concurrency=args.concurrency)
                )
                fetch[label].append(seconds)
    print(json.dumps(_report(args, counts, subdir, urls, query, fetch), indent=2))


def _names(urls: list[str], server: LiveServer, pki: Pki, subdir: str, count: int) -> list[str]:
    raw = httpx.get(
        f"{server.url}/main/{subdir}/repodata_shards.msgpack.zst", verify=pki.context()
    ).content
    names = sorted(msgspec.msgpack.decode(zstandard.decompress(raw))["shards"])
    return random.Random(0).sample(names, min(count, len(names)))


def _report(
    args: argparse.Namespace,
    counts: dict[str, int],
    subdir: str,
    urls: list[str],
    query: dict[str, list[dict[str, Any]]],
    fetch: dict[str, list[float]],
) -> dict[str, Any]:
    first = {name: runs[0] for name, runs in query.items()}
    return {
        "benchmark": "http2",
        "command": "python benchmarks/http2.py " + " ".join(sys.argv[1:]),
        "artifacts": sum(counts.values()),
        "subdir": subdir,
        "shards_in_subdir": len(urls),
        "names_queried": args.names,
        "rounds": args.rounds,
        "loadavg": os.getloadavg(),
        "rattler_query": {
            name: {
                **summary([run["seconds"] for run in runs]),
                "records": first[name]["records"],
                "requests": first[name]["requests"],
                "http_versions": first[name]["http_versions"],
            }
            for name, runs in query.items()
        },
        "httpx_all_shards": {
            label: {**summary(values), "concurrency": args.concurrency}
            for label, values in fetch.items()
        },
        "note": re.sub(
            r"\s+",
            " ",
            """Loopback has no latency: HTTP/2 saves connection set-ups and round trips, which
            matter most on real networks; these numbers are the floor of the difference.""",
        ),
    }


if __name__ == "__main__":
    main()
