"""Hostile clients against a real `stockyard serve` (issue 7, items 5-7, 9, 10).

One server takes, in order: uploads of every hostile artifact shape (tests/package/hostile.py)
through all three protocols; a forced overwrite, revalidated with the old ETag; a flood of
request-header lines and a request with too many headers; an upload body that stalls; requests
with tokens in odd path forms. It must refuse each, store nothing, stay small, keep no spool file
and log no token. Then it restarts, and py-rattler reads every published file of the channel.

A second server is killed with `kill -9` in the middle of an upload: its spool file is gone when
the next start is ready.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import time
from pathlib import Path

import httpx
import pytest
import rattler
import zstandard
from rattler import Channel, Gateway, SourceConfig

from stockyard.server.spool import FILE_SUFFIX
from tests.package.hostile import HOSTILE, build
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import LiveServer, admin_token, live_server
from tests.server.uploading import prefix_upload, put_upload, quetz_upload

pytestmark = pytest.mark.integration

IDLE_TIMEOUT = 2.0
UPLOAD_LIMIT = 64_000_000


def _config(root: Path, idle_timeout: float) -> Path:
    config = root / "stockyard.toml"
    config.write_text(
        f"max_upload_bytes = {UPLOAD_LIMIT}\nupload_idle_timeout = {idle_timeout}\n"
        "repodata_max_age = 30\n"
    )
    return config


def _spooled(data: Path) -> list[Path]:
    return sorted((data / "channels").glob(f"*/.stockyard/uploads/*{FILE_SUFFIX}"))


def _artifacts(data: Path) -> dict[str, str]:
    out = {}
    for path in (data / "channels" / "main").rglob("*"):
        if path.name.endswith((".conda", ".tar.bz2")) and ".stockyard" not in path.parts:
            out[path.relative_to(data).as_posix()] = sha256_of(path)
    return out


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _read_response(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def _status(response: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", response)
    return int(match.group(1)) if match else None


# --- the phases -------------------------------------------------------------------------------


def _hostile_uploads(live: LiveServer, token: str, tmp: Path) -> None:
    """Every hostile shape, through each protocol in turn: a 4xx JSON error, nothing stored."""
    before = _artifacts(live.data_dir)
    protocols = ("quetz", "prefix", "put")
    with httpx.Client(base_url=live.url, timeout=120) as client:
        for i, case in enumerate(HOSTILE):
            path = build(case, tmp / f"case{i}")
            protocol = protocols[i % 3]
            started = time.monotonic()
            if protocol == "quetz":
                response = quetz_upload(client, "main", path, token)
            elif protocol == "prefix":
                response = prefix_upload(client, "main", path, token)
            else:
                bearer = {"Authorization": f"Bearer {token}"}
                response = put_upload(client, "main", "noarch", path, bearer)
            elapsed = time.monotonic() - started
            what = f"{case} via {protocol}"
            assert response.status_code in (400, 413), (what, response.status_code, response.text)
            body = response.json()
            assert body["error"] in {"InvalidArtifact", "UnsafeArchive", "SizeLimitExceeded"}, what
            assert re.search(HOSTILE[case][1], body["message"]), (what, body["message"])
            assert elapsed < 10, f"{what} took {elapsed:.1f} s"
    assert _artifacts(live.data_dir) == before
    assert _spooled(live.data_dir) == []
    listed = httpx.get(f"{live.url}/main/noarch/repodata.json").json()
    assert not any(name.startswith("demo-") for name in listed["packages.conda"])


def _forced_overwrite(live: LiveServer, token: str, tmp: Path) -> None:
    """A forced overwrite changes an artifact's bytes under the same name: its Cache-Control
    lets caches keep it no longer than repodata, and the old ETag revalidates to 200."""
    old = make_artifact(tmp / "old", "replaced", summary="first build")
    new = make_artifact(tmp / "new", "replaced", summary="second build")
    assert old.name == new.name and sha256_of(old) != sha256_of(new)
    url = f"/main/noarch/{old.name}"
    with httpx.Client(base_url=live.url, timeout=60) as client:
        assert quetz_upload(client, "main", old, token).status_code == 201
        first = client.get(url)
        assert first.content == old.read_bytes()
        assert first.headers["cache-control"] == "public, max-age=30, must-revalidate"
        etag = first.headers["etag"]
        assert client.get(url, headers={"if-none-match": etag}).status_code == 304
        assert quetz_upload(client, "main", new, token).status_code == 409
        forced = quetz_upload(client, "main", new, token, force=True)
        assert forced.status_code == 201 and forced.json()["replaced"] is True
        again = client.get(url, headers={"if-none-match": etag})
        assert again.status_code == 200, again.status_code
        assert again.content == new.read_bytes()
        assert again.headers["etag"] != etag
        assert client.get(url, headers={"if-none-match": again.headers["etag"]}).status_code == 304
        record = client.get("/main/noarch/repodata.json").json()["packages.conda"][old.name]
        assert record["sha256"] == sha256_of(new)
        # Content-addressed files stay immutable.
        index = client.get("/main/noarch/repodata_shards.msgpack.zst")
        assert index.headers["cache-control"] == "public, max-age=30"
        shard = next((live.data_dir / "channels/main/noarch/shards").iterdir()).name
        immutable = client.get(f"/main/noarch/shards/{shard}").headers["cache-control"]
        assert immutable == "public, max-age=31536000, immutable"


def _header_flood(live: LiveServer) -> None:
    """300 MB of header lines used to grow the server by 300 MB; now 431 (or a close) after
    64 KiB, and the server stays small."""
    pid = live.process.pid
    rss_before = _rss_kib(pid)
    sock = _raw(live.url)
    line = b"X-Flood: " + b"a" * 1000 + b"\r\n"
    block = line * 256  # 256 KB per send
    sent = 0
    refused = False
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: stockyard\r\n")
        while sent < 300_000_000:
            sock.sendall(block)
            sent += len(block)
    except (BrokenPipeError, ConnectionResetError):
        refused = True
    except TimeoutError:
        refused = True  # the server stopped reading
    response = _read_response(sock)
    sock.close()
    assert refused, "the server read 300 MB of headers"
    assert _status(response) in (None, 431), response[:200]
    assert sent < 50_000_000, sent
    grown = _rss_kib(pid) - rss_before
    assert grown < 30_000, f"the server grew by {grown} KiB"

    # Many short header lines: 431, with a JSON body.
    sock = _raw(live.url)
    head = b"GET /health HTTP/1.1\r\nHost: stockyard\r\n"
    head += b"".join(b"X-Many-%d: 1\r\n" % i for i in range(200)) + b"\r\n"
    sock.sendall(head)
    response = _read_response(sock)
    sock.close()
    assert _status(response) == 431, response[:200]
    assert b'"RequestHeaderFieldsTooLarge"' in response
    # Normal requests, large ones included, still pass.
    ok = httpx.get(f"{live.url}/health", headers={f"X-Fine-{i}": "x" * 200 for i in range(50)})
    assert ok.status_code == 200


def _stalled_upload(live: LiveServer, token: str, tmp: Path) -> None:
    """Headers and part of a body, then nothing: 408 after the idle timeout, spool deleted."""
    artifact = make_artifact(tmp / "stall", "stalled")
    body = artifact.read_bytes()
    sock = _raw(live.url)
    sock.sendall(
        f"POST /api/channels/main/upload/{artifact.name} HTTP/1.1\r\nHost: stockyard\r\n"
        f"X-API-Key: {token}\r\nContent-Length: {len(body) + 1_000_000}\r\n\r\n".encode()
        + body
    )
    started = time.monotonic()
    # The spool file lives from the first byte read until the idle timeout has passed.
    deadline = started + IDLE_TIMEOUT * 3
    while not _spooled(live.data_dir) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _spooled(live.data_dir), "the body was not being spooled"
    response = _read_response(sock)
    waited = time.monotonic() - started
    sock.close()
    assert _status(response) == 408, response[:300]
    assert b'"UploadTimeout"' in response
    assert IDLE_TIMEOUT * 0.8 < waited < IDLE_TIMEOUT + 10, waited
    assert _spooled(live.data_dir) == []
    listed = httpx.get(f"{live.url}/main/noarch/repodata.json").json()
    assert artifact.name not in listed["packages.conda"]


def _tokens_in_paths(live: LiveServer, token: str) -> None:
    """Every form of a token path is redacted; no credential reaches the log."""
    fake = "sy-" + "Z" * 40
    paths = [
        f"/t/{token}/main/noarch/repodata.json",
        f"//t/{token}/main/noarch/repodata.json",
        f"/T/{token}/main/noarch/repodata.json",
        f"/t//{token}/main/noarch/repodata.json",
        f"///T///{fake}///main/",
        f"/main/{token}/x",
    ]
    for path in paths:
        sock = _raw(live.url)
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: stockyard\r\nConnection: close\r\n"
            f"Authorization: Bearer {token}\r\nX-API-Key: {fake}\r\n\r\n".encode()
        )
        assert _status(_read_response(sock)) is not None, path
        sock.close()
    time.sleep(0.3)  # let the log lines reach the file
    logged = [line["path"] for line in live.access_log()]
    for path in paths:
        shown = re.sub(r"(?<![^/])([tT]/+)[^/]+", r"\1<redacted>", path).replace(
            token, "<redacted>"
        )
        assert shown in logged, (shown, logged[-10:])
    text = live.log_path.read_text()
    assert token not in text and fake not in text


def _rattler_reads_everything(live: LiveServer, tmp: Path) -> None:
    """Every published repodata file parses in py-rattler, and rattler's gateway reads the
    channel over HTTP, sharded and monolithic, listing exactly what repodata.json lists."""
    tmp.mkdir(parents=True, exist_ok=True)
    channel_dir = live.data_dir / "channels" / "main"
    channel = Channel(f"{live.url}/main")
    expected: dict[str, set[str]] = {}
    subdirs = sorted(p.name for p in channel_dir.iterdir() if (p / "repodata.json").is_file())
    assert "noarch" in subdirs
    for subdir in subdirs:
        folder = channel_dir / subdir
        for variant in ("repodata.json", "repodata_from_packages.json", "current_repodata.json"):
            if (folder / variant).is_file():
                parsed = rattler.RepoData.from_path(folder / variant)
                assert parsed.into_repo_data(channel) is not None, variant
        raw = json.loads((folder / "repodata.json").read_bytes())
        names = {r["name"] for r in {**raw["packages"], **raw["packages.conda"]}.values()}
        expected[subdir] = {*raw["packages"], *raw["packages.conda"]}
        if (folder / "repodata.json.zst").is_file():
            plain = zstandard.ZstdDecompressor().decompress(
                (folder / "repodata.json.zst").read_bytes(), max_output_size=1 << 28
            )
            assert json.loads(plain) == raw
            copy = tmp / f"{subdir}-zst-repodata.json"
            copy.write_bytes(plain)
            rattler.RepoData.from_path(copy)
        sparse = rattler.SparseRepoData(channel, subdir, folder / "repodata.json")
        assert set(sparse.package_names()) == names
        records = sparse.load_all_records(rattler.PackageFormatSelection.BOTH)
        assert {r.file_name for r in records} == expected[subdir]
        sparse.close()
        for shard in (folder / "shards").glob("*.msgpack.zst"):
            assert hashlib.sha256(shard.read_bytes()).hexdigest() == shard.name.split(".")[0]
    if (channel_dir / "channeldata.json").is_file():
        json.loads((channel_dir / "channeldata.json").read_bytes())

    for sharded in (True, False):
        gateway = Gateway(
            cache_dir=tmp / f"cache-{sharded}", default_config=SourceConfig(sharded_enabled=sharded)
        )
        names = sorted(
            {n for subdir in subdirs for n in _names(channel_dir / subdir / "repodata.json")}
        )

        async def query(gateway: Gateway = gateway, names: list[str] = names) -> list:
            return await gateway.query([channel], subdirs, names, recursive=False)

        found = {record.file_name for per_source in asyncio.run(query()) for record in per_source}
        assert found == set().union(*expected.values()), sharded


def _names(repodata: Path) -> set[str]:
    raw = json.loads(repodata.read_bytes())
    return {r["name"] for r in {**raw["packages"], **raw["packages.conda"]}.values()}


def test_hostile_suite_then_restart_and_rattler_reads_the_channel(tmp_path: Path) -> None:
    root = tmp_path
    data = root / "data"
    config = _config(root, IDLE_TIMEOUT)
    with live_server(data, "--config", str(config)) as live:
        token = admin_token(live.banner)
        with httpx.Client(base_url=live.url, timeout=60) as client:
            for subdir, fmt in (("noarch", "conda"), ("linux-64", "tar.bz2")):
                good = make_artifact(root / "good", f"good-{fmt[:3]}", subdir=subdir, fmt=fmt)
                assert quetz_upload(client, "main", good, token).status_code == 201
        _hostile_uploads(live, token, root / "hostile")
        _forced_overwrite(live, token, root / "forced")
        _header_flood(live)
        _stalled_upload(live, token, root)
        _tokens_in_paths(live, token)
        assert live.process.poll() is None
        errors = [line for line in live.access_log() if line.get("status", 0) >= 500]
        assert errors == []
    with live_server(data, "--config", str(config)) as again:
        assert _spooled(data) == []
        _rattler_reads_everything(again, root / "rattler")


def test_kill_9_during_an_upload_leaves_no_spool_after_restart(tmp_path: Path) -> None:
    root = tmp_path
    data = root / "data"
    config = _config(root, 600.0)
    artifact = make_artifact(root / "art", "killed")
    with live_server(data, "--config", str(config)) as live:
        token = admin_token(live.banner)
        sock = _raw(live.url)
        sock.sendall(
            f"PUT /main/noarch/{artifact.name} HTTP/1.1\r\nHost: stockyard\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: 5000000\r\n\r\n".encode()
            + artifact.read_bytes()
        )
        deadline = time.monotonic() + 10
        while not _spooled(data) and time.monotonic() < deadline:
            time.sleep(0.05)
        orphans = _spooled(data)
        assert len(orphans) == 1
        live.process.kill()
        live.process.wait(timeout=10)
        sock.close()
        assert orphans[0].exists()  # the crash left it
    with live_server(data, "--config", str(config)) as again:
        assert not orphans[0].exists()
        assert _spooled(data) == []
        assert list((data / "channels/main/.stockyard/uploads").glob(".owner.*")) == []
        listed = httpx.get(f"{again.url}/main/noarch/repodata.json").json()
        assert artifact.name not in listed["packages.conda"]
