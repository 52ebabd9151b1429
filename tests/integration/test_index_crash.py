"""`kill -9` at any point leaves the previous published state intact; the next run completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
import zstandard

from stockyard.index.run import index_channel

from ..index.conftest import build_artifact

pytestmark = pytest.mark.integration


def _published_state_is_whole(channel: Path) -> set[str]:
    """Every published file parses, the .zst agrees with the .json, shards named exist."""
    filenames: set[str] = set()
    for subdir in ("noarch", "linux-64"):
        raw = (channel / subdir / "repodata.json").read_bytes()
        repodata = json.loads(raw)
        zst = (channel / subdir / "repodata.json.zst").read_bytes()
        decompressed = zstandard.ZstdDecompressor().stream_reader(zst).read()
        json.loads(decompressed)  # the .zst is whole (it may lag .json by one publish)
        index = msgspec.msgpack.decode(
            zstandard.ZstdDecompressor()
            .stream_reader((channel / subdir / "repodata_shards.msgpack.zst").read_bytes())
            .read()
        )
        for digest in index["shards"].values():
            assert (channel / subdir / "shards" / f"{digest.hex()}.msgpack.zst").exists()
        for key in ("packages", "packages.conda"):
            for filename in repodata[key]:
                assert (channel / subdir / filename).exists()
                filenames.add(filename)
    json.loads((channel / "channeldata.json").read_bytes())
    return filenames


def test_kill_9_at_many_points(tmp_path: Path) -> None:
    channel = tmp_path / "chan"
    for i in range(60):
        build_artifact(channel, "linux-64", f"pkg{i}", fmt="tar.bz2" if i % 5 == 0 else "conda")
    build_artifact(channel, "noarch", "base")
    index_channel(channel)
    before = _published_state_is_whole(channel)
    for i in range(60):
        build_artifact(channel, "linux-64", f"pkg{i}", "2.0")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "stockyard.cli.main", "index", str(channel), "--workers", "1"]
    kills = 0
    for delay in (0.05, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        seen = _published_state_is_whole(channel)
        assert before <= seen  # nothing published before is lost
    result = index_channel(channel)
    final = _published_state_is_whole(channel)
    assert len(final) == 121, result
    assert kills >= 1  # at least one run was really interrupted
