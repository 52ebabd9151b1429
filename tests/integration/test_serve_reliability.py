"""`stockyard serve` under concurrent uploads and reads, and against malformed requests.

The soak: 20 uploader threads and 20 reader threads against one real server for 30 s (bounded:
each loop stops at the deadline or when its work runs out). Uploaders send distinct valid
artifacts (noarch and linux-64, .conda and .tar.bz2) through the quetz, prefix and artifactory
protocols. Readers fetch repodata.json (plain and gzip), repodata.json.zst, the shard index and
a shard; every body must parse and every package it lists that a reader samples must download
with exactly the listed sha256. No response may be a 5xx. At the end every upload is in
repodata.json with its sha256, and nothing else is. It runs against one worker process and
against two (uploads then race across processes).

The malformed-request battery covers, over the wire, what tests/server/test_uploads.py does not
already cover with the in-process client: traversal hidden in PUT paths, broken multipart
bodies, an oversized chunked body; after it the data directory holds exactly what it did.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import pytest
import zstandard

from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import LiveServer, admin_token, live_server
from tests.server.uploading import prefix_upload, put_upload, quetz_upload

pytestmark = pytest.mark.integration

UPLOADERS = 20
READERS = 20
SOAK_SECONDS = 30.0
#: Artifacts built per uploader; more than one uploader gets through in the soak.
PER_UPLOADER = 40
SUBDIRS = ("noarch", "linux-64")
UPLOAD_LIMIT = 1_000_000


@dataclass
class Server:
    live: LiveServer
    token: str


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """One server per worker count: with 2 workers, uploads race across processes (the file
    lock and the catalog are then the only coordination)."""
    root = tmp_path_factory.mktemp("reliability")
    config = root / "stockyard.toml"
    config.write_text(f"max_upload_bytes = {UPLOAD_LIMIT}\nlock_timeout = 120\n")
    with live_server(root / "data", "--config", str(config), workers=request.param) as live:
        yield Server(live, admin_token(live.banner))


@dataclass
class Planned:
    path: Path
    subdir: str
    protocol: str
    sha256: str


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: list[str] = field(default_factory=list)
    uploaded: dict[tuple[str, str], str] = field(default_factory=dict)
    reads: int = 0
    downloads: int = 0

    def fail(self, message: str) -> None:
        with self.lock:
            if len(self.failures) < 200:
                self.failures.append(message)


def _plan(root: Path) -> list[list[Planned]]:
    """Distinct artifacts per uploader: names never collide, every kind is mixed in."""
    plans = []
    protocols = ("quetz", "prefix", "put")
    for u in range(UPLOADERS):
        plan = []
        for i in range(PER_UPLOADER):
            subdir = SUBDIRS[(u + i) % 2]
            fmt = "tar.bz2" if (u + 2 * i) % 3 == 0 else "conda"
            # Several versions of the same names, so uploads also change existing shards.
            name = f"soak{u % 7}-{i % 5}"
            version = f"{u}.{i}"
            build = "h0_0" if subdir == "linux-64" else "0"
            path = make_artifact(
                root / f"u{u}", name, version, build, subdir=subdir, fmt=fmt, depends=["python"]
            )
            plan.append(Planned(path, subdir, protocols[(u + i) % 3], sha256_of(path)))
        plans.append(plan)
    return plans


def _upload(client: httpx.Client, item: Planned, token: str) -> httpx.Response:
    if item.protocol == "quetz":
        return quetz_upload(client, "main", item.path, token)
    if item.protocol == "prefix":
        return prefix_upload(client, "main", item.path, token)
    return put_upload(client, "main", item.subdir, item.path, {"Authorization": f"Bearer {token}"})


def _uploader(url: str, token: str, plan: list[Planned], deadline: float, tally: Tally) -> None:
    with httpx.Client(base_url=url, timeout=150) as client:
        for item in plan:
            if time.monotonic() >= deadline:
                return
            try:
                response = _upload(client, item, token)
            except httpx.HTTPError as exc:
                tally.fail(f"upload {item.path.name}: {exc!r}")
                continue
            if response.status_code != 201:
                tally.fail(f"upload {item.path.name}: {response.status_code} {response.text}")
                continue
            body = response.json()
            if body["sha256"] != item.sha256 or body["subdir"] != item.subdir:
                tally.fail(f"upload {item.path.name}: answered {body}")
            with tally.lock:
                tally.uploaded[(item.subdir, item.path.name)] = item.sha256


def _records(document: dict) -> dict[str, dict]:
    return {**document.get("packages", {}), **document.get("packages.conda", {})}


def _check_download(client: httpx.Client, subdir: str, filename: str, sha256: str) -> str | None:
    response = client.get(f"/main/{subdir}/{filename}")
    if response.status_code != 200:
        return f"download {subdir}/{filename}: {response.status_code}"
    got = hashlib.sha256(response.content).hexdigest()
    if got != sha256:
        return f"download {subdir}/{filename}: sha256 {got}, repodata says {sha256}"
    return None


def _read_once(client: httpx.Client, rng: random.Random, step: int) -> list[str]:
    """One reader step; returns the problems seen (empty when all is well)."""
    subdir = SUBDIRS[step % 2]
    kind = step % 5
    problems: list[str] = []
    samples: list[tuple[str, str]] = []
    if kind in (0, 1, 2):
        # 0: gzip (httpx asks for it), 1: identity, 2: zstd-compressed variant.
        if kind == 2:
            response = client.get(f"/main/{subdir}/repodata.json.zst")
        else:
            encoding = {"accept-encoding": "identity"} if kind == 1 else {}
            response = client.get(f"/main/{subdir}/repodata.json", headers=encoding)
        if response.status_code != 200:
            return [f"{response.url.path}: {response.status_code} {response.text[:200]}"]
        try:
            raw = response.content
            if kind == 2:
                raw = zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 28)
            document = json.loads(raw)
        except (ValueError, zstandard.ZstdError) as exc:
            return [f"{response.url.path} (step kind {kind}) does not parse: {exc}"]
        records = _records(document)
        picked = rng.sample(sorted(records), min(2, len(records)))
        samples = [(name, records[name]["sha256"]) for name in picked]
    else:
        index_response = client.get(f"/main/{subdir}/repodata_shards.msgpack.zst")
        if index_response.status_code != 200:
            return [f"shard index {subdir}: {index_response.status_code}"]
        try:
            index = msgspec.msgpack.decode(zstandard.decompress(index_response.content))
        except (msgspec.DecodeError, zstandard.ZstdError) as exc:
            return [f"shard index {subdir} does not parse: {exc}"]
        if not index["shards"]:
            return []
        name = rng.choice(sorted(index["shards"]))
        digest = index["shards"][name].hex()
        shard_response = client.get(f"/main/{subdir}/shards/{digest}.msgpack.zst")
        if shard_response.status_code != 200:
            # The index named it, so it must exist: shards are written before the index.
            return [f"shard {name} ({digest}) of {subdir}: {shard_response.status_code}"]
        if hashlib.sha256(shard_response.content).hexdigest() != digest:
            return [f"shard {name} of {subdir}: bytes do not hash to their name"]
        try:
            shard = msgspec.msgpack.decode(zstandard.decompress(shard_response.content))
        except (msgspec.DecodeError, zstandard.ZstdError) as exc:
            return [f"shard {name} does not parse: {exc}"]
        records = _records(shard)
        if not records:
            problems.append(f"shard {name} of {subdir} lists no package")
        picked = rng.sample(sorted(records), min(1, len(records)))
        samples = [(filename, records[filename]["sha256"].hex()) for filename in picked]
    for filename, sha256 in samples:
        problem = _check_download(client, subdir, filename, sha256)
        if problem:
            problems.append(problem)
    return problems


def _reader(url: str, seed: int, deadline: float, tally: Tally) -> None:
    rng = random.Random(seed)
    step = seed
    # Bounded: the deadline ends it long before this count in practice.
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() < deadline and step < seed + 100_000:
            try:
                problems = _read_once(client, rng, step)
            except httpx.HTTPError as exc:
                problems = [f"read step {step}: {exc!r}"]
            for problem in problems:
                tally.fail(problem)
            with tally.lock:
                tally.reads += 1
            step += 1


def test_concurrent_uploads_and_reads(server: Server, tmp_path: Path) -> None:
    plans = _plan(tmp_path / "artifacts")
    tally = Tally()
    # Both subdirs exist before the readers start: from then on any 404 is a failure.
    for subdir in SUBDIRS:
        seed = make_artifact(tmp_path / "seed", f"seed-{subdir}", subdir=subdir)
        with httpx.Client(base_url=server.live.url, timeout=60) as client:
            assert quetz_upload(client, "main", seed, server.token).status_code == 201
        tally.uploaded[(subdir, seed.name)] = sha256_of(seed)
    deadline = time.monotonic() + SOAK_SECONDS
    threads = [
        threading.Thread(
            target=_uploader, args=(server.live.url, server.token, plan, deadline, tally)
        )
        for plan in plans
    ] + [
        threading.Thread(target=_reader, args=(server.live.url, seed, deadline, tally))
        for seed in range(READERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SOAK_SECONDS + 300)
    assert not any(thread.is_alive() for thread in threads), "a worker did not stop"
    assert tally.failures == [], "\n".join(tally.failures[:30])
    assert tally.reads >= READERS
    assert len(tally.uploaded) >= UPLOADERS
    print(f"soak: {len(tally.uploaded)} uploads, {tally.reads} reader steps")

    # Every upload is there with its sha256, and nothing else is.
    with httpx.Client(base_url=server.live.url, timeout=60) as client:
        for subdir in SUBDIRS:
            listed = {
                filename: record["sha256"]
                for filename, record in _records(
                    client.get(f"/main/{subdir}/repodata.json").json()
                ).items()
            }
            expected = {
                filename: sha for (sd, filename), sha in tally.uploaded.items() if sd == subdir
            }
            assert listed == expected
    # The server logged no unexpected error.
    errors = [line for line in server.live.access_log() if line.get("status", 0) >= 500]
    assert errors == []


# --- malformed requests over the wire --------------------------------------------------------


def _tree(root: Path) -> dict[str, str]:
    """Every file of the channels and their sha256, minus lock files (the publish lock, the
    upload spool's owner locks) and the gzip cache. (The catalog is left out: authenticated
    requests record a token's last use.)"""
    out = {}
    for path in sorted((root / "channels").rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not relative.endswith(".lock") and "/gzip/" not in relative:
            out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _assert_json_4xx(response: httpx.Response, what: str) -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text}"
    body = response.json()
    assert body["error"] and body["message"], what


def test_malformed_requests_store_nothing(server: Server, tmp_path: Path) -> None:
    url, token = server.live.url, server.token
    data = server.live.data_dir
    good = make_artifact(tmp_path, "evil")
    before = _tree(data)
    artifacts_before = httpx.get(f"{url}/api/channels/main").json()["artifact_count"]
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=60) as client:
        # Traversal hidden in the PUT path (encoded slashes, dots and backslashes).
        for path in (
            "/main/noarch/..%2F..%2Fevil-1.0-0.conda",
            "/main/noarch/%2E%2E%2Fevil-1.0-0.conda",
            "/main/..%2Fnoarch/evil-1.0-0.conda",
            "/main/noarch/..%5Cevil-1.0-0.conda",
            "/main/%2Fetc/evil-1.0-0.conda",
            "/main/noarch/.evil-1.0-0.conda",
        ):
            response = client.put(path, content=good.read_bytes(), headers=bearer)
            _assert_json_4xx(response, path)

        # Broken multipart bodies.
        no_boundary = client.post(
            "/api/v1/upload/main",
            content=b"--x\r\n\r\ndata",
            headers={**bearer, "Content-Type": "multipart/form-data"},
        )
        _assert_json_4xx(no_boundary, "multipart without boundary")
        head = (
            b'--BOUND\r\nContent-Disposition: form-data; name="file"; '
            b'filename="evil-1.0-0.conda"\r\nX-File-Name: evil-1.0-0.conda\r\n\r\n'
        )
        truncated = client.post(
            "/api/v1/upload/main",
            content=head + good.read_bytes()[:300],
            headers={**bearer, "Content-Type": "multipart/form-data; boundary=BOUND"},
        )
        _assert_json_4xx(truncated, "truncated multipart body")
        garbage = client.post(
            "/api/v1/upload/main",
            content=b"\x00\xff" * 500,
            headers={**bearer, "Content-Type": "multipart/form-data; boundary=BOUND"},
        )
        _assert_json_4xx(garbage, "garbage multipart body")

        # Oversized, chunked (no Content-Length): refused while streaming.
        def chunks() -> Iterator[bytes]:
            for _ in range(UPLOAD_LIMIT // 65536 + 4):
                yield b"\0" * 65536

        try:
            oversized = client.post(
                "/api/channels/main/upload/evil-1.0-0.conda",
                content=chunks(),
                headers={"X-API-Key": token},
            )
        except httpx.TransportError:
            oversized = None  # the server may answer and close before the body is all sent
        if oversized is not None:
            assert oversized.status_code == 413, oversized.text
            assert oversized.json()["error"] == "SizeLimitExceeded"

        # The server still answers normally afterwards, and lists no new artifact.
        listed = client.get("/api/channels/main").json()["artifact_count"]
        assert listed == artifacts_before
    assert _tree(data) == before


# --- regression: the race the soak found --------------------------------------------------------


def _source(path: Path, text: bytes, mtime_ns: int):  # type: ignore[no-untyped-def]
    from stockyard.server.http_files import open_regular_file

    path.write_bytes(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    opened = open_regular_file(path)
    assert opened is not None
    return opened


def test_gzip_cache_survives_a_concurrent_cleanup(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A request compressing one version of repodata.json while another request's cleanup
    removes that cache file must still serve the gzip bytes (it answered 500 before)."""
    from stockyard.server import http_files

    body = b'{"packages": {}}' * 200
    source = _source(tmp_path / "repodata.json", body, 1_000_000_000)
    target = http_files.gzip_cache_path(
        tmp_path / "gzip", "noarch/repodata.json", len(body), 1_000_000_000
    )
    real_replace = os.replace

    def replace_then_vanish(src, dst):  # type: ignore[no-untyped-def]
        real_replace(src, dst)
        os.unlink(dst)  # what a concurrent cleanup did between the rename and the reopen

    monkeypatch.setattr(http_files.os, "replace", replace_then_vanish)
    compressed = http_files.gzip_variant(source, target)
    try:
        assert gzip.decompress(os.pread(compressed.fd, compressed.size, 0)) == body
    finally:
        compressed.close()
        source.close()


def test_gzip_cache_of_an_older_version_keeps_the_newer(tmp_path: Path) -> None:
    from stockyard.server import http_files

    cache = tmp_path / "gzip"
    new_body, old_body = b"[1]" * 600, b"[0]" * 500
    newer = _source(tmp_path / "new.json", new_body, 2_000_000_000)
    older = _source(tmp_path / "old.json", old_body, 1_000_000_000)
    new_target = http_files.gzip_cache_path(cache, "k", len(new_body), 2_000_000_000)
    old_target = http_files.gzip_cache_path(cache, "k", len(old_body), 1_000_000_000)
    for source, target in ((older, old_target), (newer, new_target)):
        http_files.gzip_variant(source, target).close()
    assert new_target.exists() and not old_target.exists()
    # A late request still holding the older repodata must not remove the newer cache.
    http_files.gzip_variant(older, old_target).close()
    assert new_target.exists()
    newer.close()
    older.close()
