"""Bad upstreams and bad input: a clear error (message and hint), nothing partial published, and
the next run repairs what a failed or killed one left."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stockyard.mirror.errors import DownloadFailed, UpstreamError
from stockyard.mirror.fetch import FetchSettings
from stockyard.mirror.run import MirrorOptions, mirror_channel
from stockyard.mirror.target import open_directory_target
from stockyard.package.create import write_artifact
from tests.mirror.upstreams import build_packages, rattler_index, static_server, touch_documents
from tests.server.live import stockyard

pytestmark = pytest.mark.integration

FAST = FetchSettings(retries=1, backoff=0.01, read_timeout=5)


def _published(target: Path) -> dict[str, str]:
    """Every published file (the mirror's working area left out) with its sha256."""
    return {
        str(p.relative_to(target)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(target.rglob("*"))
        if p.is_file() and ".stockyard" not in p.parts
    }


def _run(url: str, target: Path, **options: object) -> dict:  # type: ignore[type-arg]
    opened = open_directory_target(target)
    try:
        fetch = options.pop("fetch", FAST)
        result = mirror_channel(url, opened, MirrorOptions(fetch=fetch, **options))  # type: ignore[arg-type]
    finally:
        opened.close()
    return result.to_dict()


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    root = tmp_path / "upstream"
    build_packages(root)
    rattler_index(root, shards=True)
    return root


def _garbage(handler) -> None:  # type: ignore[no-untyped-def]
    handler.send_response(200)
    handler.send_header("Content-Length", "21")
    handler.end_headers()
    handler.wfile.write(b"<html>oops</html>\n\n\n\n")


def _redirect_loop(handler) -> None:  # type: ignore[no-untyped-def]
    handler.send_response(302)
    handler.send_header("Location", handler.path)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def test_garbage_and_redirect_loops_publish_nothing(upstream: Path, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    with static_server(upstream) as origin:
        _run(origin.url, target)
        before = _published(target)
        (upstream / "noarch" / "new-1-0.conda").write_bytes(b"")  # any upstream change
        touch_documents(upstream)
        origin.overrides["/noarch/repodata_shards.msgpack.zst"] = _garbage
        with pytest.raises(UpstreamError, match="not valid zstd") as caught:
            _run(origin.url, target)
        assert caught.value.hint
        origin.overrides["/noarch/repodata_shards.msgpack.zst"] = _redirect_loop
        with pytest.raises(UpstreamError, match="too many redirects"):
            _run(origin.url, target)
        assert _published(target) == before
        origin.overrides.clear()
        assert _run(origin.url, target)["added"] == 0


def test_truncated_and_hostile_repodata(tmp_path: Path) -> None:
    root = tmp_path / "upstream"
    build_packages(root)
    rattler_index(root, shards=False)
    (root / "noarch" / "repodata.json.zst").unlink()
    full = (root / "noarch" / "repodata.json").read_bytes()
    (root / "noarch" / "repodata.json").write_bytes(full[: len(full) // 2])
    with static_server(root) as origin:
        with pytest.raises(UpstreamError, match="not valid JSON"):
            _run(origin.url, tmp_path / "t1")
        document = json.loads(full)
        document["packages.conda"]["../../escape-1.0-0.conda"] = next(
            iter(document["packages.conda"].values())
        )
        (root / "noarch" / "repodata.json").write_text(json.dumps(document))
        with pytest.raises(UpstreamError, match="not a bare artifact filename"):
            _run(origin.url, tmp_path / "t2")
    assert not (tmp_path / "t2" / "noarch" / "repodata.json").exists()


def test_wrong_sha256_or_size_fails_whole_then_repairs(upstream: Path, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    artifact = upstream / "noarch" / "gamma-1.0-0.conda"
    original = artifact.read_bytes()
    with static_server(upstream) as origin:
        artifact.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # same size, other bytes
        with pytest.raises(DownloadFailed, match="sha256 does not match") as caught:
            _run(origin.url, target)
        assert "nothing was published" in caught.value.message and caught.value.hint
        assert not (target / "noarch" / "repodata.json").exists()
        artifact.write_bytes(original + b"x")
        with pytest.raises(DownloadFailed, match="size is"):
            _run(origin.url, target)
        artifact.write_bytes(original)
        start = len(origin.log)
        summary = _run(origin.url, target)
    assert summary["added"] == 8
    # the artifacts verified by the failed runs were not downloaded again
    assert [p for p in origin.paths(start) if p.endswith(".conda")] == ["/noarch/gamma-1.0-0.conda"]


def test_slow_drip_is_cut_off(upstream: Path, tmp_path: Path) -> None:
    def drip(handler) -> None:  # type: ignore[no-untyped-def]
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        for _ in range(40):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.05)

    slow = FetchSettings(retries=0, low_speed_limit=1000, low_speed_time=0.5, read_timeout=5)
    with static_server(upstream) as origin:
        origin.overrides["/noarch/repodata_shards.msgpack.zst"] = drip
        with pytest.raises(UpstreamError, match="bytes/s"):
            _run(origin.url, tmp_path / "mirror", fetch=slow)


def test_artifact_failing_verification_is_refused(tmp_path: Path) -> None:
    """Hashes match upstream's record, but the payload is not what paths.json says: refused
    as an upload would be."""
    root = tmp_path / "upstream"
    paths = {"paths_version": 1, "paths": [
        {"_path": "data.txt", "path_type": "hardlink", "sha256": "0" * 64, "size_in_bytes": 4}
    ]}  # fmt: skip
    index = {"name": "evil", "version": "1", "build": "0", "build_number": 0, "subdir": "noarch",
             "noarch": "generic", "depends": []}  # fmt: skip
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps(paths).encode(),
        "data.txt": b"data",
    }
    (root / "noarch").mkdir(parents=True)
    write_artifact(root / "noarch" / "evil-1-0.conda", members, fsync=False)
    rattler_index(root, shards=False)
    with static_server(root) as origin, pytest.raises(DownloadFailed, match="evil-1-0") as caught:
        _run(origin.url, tmp_path / "mirror")
    assert "paths.json" in caught.value.message
    assert not (tmp_path / "mirror" / "noarch" / "evil-1-0.conda").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return stockyard("mirror", *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--include", "numpy >=1.2,<"], "is not a MatchSpec"),
        (["--exclude", ">>>"], "is not a MatchSpec"),
        (["--license-deny", "Not-A-License"], "is not an SPDX license id"),
        (["--license-allow", "XYZ*"], "matches no SPDX license id"),
        (["--license-unknown", "maybe"], "'allow' or 'deny'"),
        (["--newer-than", "yesterday"], "is not a date"),
    ],
)
def test_bad_filters_are_user_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = _cli(str(tmp_path), str(tmp_path / "mirror"), *args)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and "hint:" in result.stderr
    assert not (tmp_path / "mirror").exists()


def test_target_must_be_a_channel(upstream: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    result = _cli(str(upstream), str(home))
    assert result.returncode == 1
    assert "is not a channel directory" in result.stderr and "hint:" in result.stderr
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]
    same = _cli(str(upstream), str(upstream))
    assert same.returncode == 1 and "same directory" in same.stderr


def test_kill_mid_download_resumes(tmp_path: Path) -> None:
    """`kill -9` while a large artifact downloads: nothing is published; the next run resumes it
    with a Range request and does not fetch the finished ones again."""
    root = tmp_path / "upstream"
    build_packages(root)
    payload = os.urandom(3 << 20)  # incompressible: the artifact is about 3 MB
    digest = hashlib.sha256(payload).hexdigest()
    paths = {"paths_version": 1, "paths": [
        {"_path": "big.bin", "path_type": "hardlink", "sha256": digest, "size_in_bytes": 3 << 20}
    ]}  # fmt: skip
    index = {"name": "big", "version": "1", "build": "0", "build_number": 0, "subdir": "noarch",
             "noarch": "generic", "depends": []}  # fmt: skip
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps(paths).encode(),
        "big.bin": payload,
    }
    write_artifact(root / "noarch" / "big-1-0.conda", members, fsync=False)
    rattler_index(root, shards=True)
    target = tmp_path / "mirror"
    part = target / ".stockyard" / "mirror" / "downloads" / "noarch" / "big-1-0.conda.part"
    with static_server(root) as origin:
        origin.throttle = 0.1  # about 640 kB/s
        process = subprocess.Popen(
            [sys.executable, "-m", "stockyard.cli.main", "mirror", origin.url, str(target)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > (256 << 10)):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert not (target / "noarch" / "repodata.json").exists()
        assert not (target / "noarch" / "big-1-0.conda").exists()
        origin.throttle = 0.0
        start = len(origin.log)
        summary = _run(origin.url, target)
    assert summary["added"] == 9
    artifact_requests = [e for e in origin.log[start:] if e[1].endswith(".conda")]
    assert [(e[1], e[2]) for e in artifact_requests] == [("/noarch/big-1-0.conda", 206)]
    assert artifact_requests[0][3].startswith("bytes=")
    assert (target / "noarch" / "big-1-0.conda").stat().st_size > (3 << 20)
