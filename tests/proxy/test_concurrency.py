"""Single flight in a proxy channel (`ProxyChannel.flights`): many concurrent requests for the
same upstream file (repodata, the shard index, a shard, an artifact) cause one upstream
transfer, counted by a real static upstream on 127.0.0.1 that answers slowly enough for the
requests to overlap; every caller gets the same verified bytes. (Through `stockyard serve`:
tests/integration/test_proxy_hostile.py::test_concurrent_requests_cause_one_download.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

from stockyard.proxy import ProxyChannel
from stockyard.proxy.documents import shard_index_hashes
from stockyard.proxy.settings import ProxySettings
from stockyard.types.policy import ProxyPolicy
from tests.mirror.upstreams import static_server
from tests.proxy.upstream_setup import static_upstream_root

CALLERS = 12


def test_concurrent_requests_share_one_upstream_transfer(tmp_path: Path) -> None:
    root = static_upstream_root(tmp_path, shards=True)
    artifact = "noarch/alpha-3.1-0.conda"
    with static_server(root) as origin:
        origin.throttle = 0.3  # each file takes a while: the callers overlap
        policy = ProxyPolicy(upstreams=(origin.url,), timeout=10)
        proxy = ProxyChannel(tmp_path / "state", ProxySettings.from_policy(policy))

        async def many(key: str) -> set[bytes]:
            found = await asyncio.gather(*(proxy.get(key) for _ in range(CALLERS)))
            return {item.path.read_bytes() for item in found if item is not None}

        async def run() -> list[set[bytes]]:
            index = await many("noarch/repodata_shards.msgpack.zst")
            digest = shard_index_hashes(next(iter(index)))[0]
            results = [
                index,
                await many("noarch/repodata.json"),
                await many(f"noarch/shards/{digest}.msgpack.zst"),
                await many(artifact),
            ]
            await proxy.close()
            return results

        results = asyncio.run(run())
    assert all(len(found) == 1 for found in results)  # everyone got the same bytes
    assert next(iter(results[-1])) == (root / artifact).read_bytes()
    paths = origin.paths()
    for wanted in (
        "/noarch/repodata_shards.msgpack.zst",
        "/noarch/repodata.json.zst",
        f"/{artifact}",
    ):
        assert paths.count(wanted) == 1, (wanted, paths)
    assert sum(p.startswith("/noarch/shards/") for p in paths) == 1
    assert len(paths) == 4


def test_worker_processes_share_one_artifact_download(tmp_path: Path) -> None:
    """Two `ProxyChannel`s on one state directory stand for two worker processes of a server
    (each has its own `SingleFlight`; the file lock per artifact is what they share)."""
    root = static_upstream_root(tmp_path, shards=False)
    artifact = "noarch/alpha-3.1-0.conda"
    with static_server(root) as origin:
        policy = ProxyPolicy(upstreams=(origin.url,), timeout=10)
        workers = [
            ProxyChannel(tmp_path / "state", ProxySettings.from_policy(policy)) for _ in range(2)
        ]

        async def run() -> set[bytes]:
            for worker in workers:  # each has its repodata first (cached by the first one)
                assert await worker.get("noarch/repodata.json") is not None
            origin.throttle = 0.5  # the downloads overlap
            found = await asyncio.gather(*(w.get(artifact) for w in workers for _ in range(3)))
            for worker in workers:
                await worker.close()
            return {item.path.read_bytes() for item in found if item is not None}

        served = asyncio.run(run())
    assert served == {(root / artifact).read_bytes()}
    assert origin.paths().count(f"/{artifact}") == 1, origin.paths()
