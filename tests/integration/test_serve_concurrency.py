"""Concurrent uploaders and readers against one server: readers always see a consistent channel
(every repodata.json parses, every listed package downloads with its listed sha256) and every
upload is present at the end. Sized by work done, not by time."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import live_server, stockyard

pytestmark = pytest.mark.integration

UPLOADERS = 20
UPLOADS_EACH = 3
READERS = 20


def test_concurrent_uploads_and_reads(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert stockyard("channel", "create", "main", "--data", str(data)).returncode == 0
    made = stockyard("token", "create", "--scope", "write", "--data", str(data), "--json")
    token = json.loads(made.stdout)["token"]
    jobs = [
        [
            make_artifact(
                tmp_path / "art",
                f"pkg-{u}-{i}",
                subdir="linux-64" if (u + i) % 2 else "noarch",
                build="h0_0" if (u + i) % 2 else "0",
            )
            for i in range(UPLOADS_EACH)
        ]
        for u in range(UPLOADERS)
    ]
    done = threading.Event()
    problems: list[str] = []
    reads = {"repodata": 0, "packages": 0}
    lock = threading.Lock()

    with live_server(data) as server:

        def upload(paths: list[Path]) -> None:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                for path in paths:
                    response = client.post(
                        f"/api/channels/main/upload/{path.name}",
                        params={"sha256": sha256_of(path)},
                        content=path.read_bytes(),
                        headers={"X-API-Key": token},
                    )
                    if response.status_code != 201:
                        problems.append(
                            f"upload {path.name}: {response.status_code} {response.text}"
                        )

        def read(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(base_url=server.url, timeout=120) as client:
                while not done.is_set():
                    subdir = rng.choice(["noarch", "linux-64"])
                    response = client.get(f"/main/{subdir}/repodata.json")
                    if response.status_code == 404 and subdir == "linux-64":
                        continue  # not published before the first linux-64 upload
                    try:
                        listed = response.json()["packages.conda"]
                    except Exception as exc:  # a torn or partial document
                        problems.append(f"repodata {subdir}: {exc!r}")
                        continue
                    with lock:
                        reads["repodata"] += 1
                    if not listed:
                        continue
                    filename = rng.choice(sorted(listed))
                    body = client.get(f"/main/{subdir}/{filename}")
                    digest = hashlib.sha256(body.content).hexdigest()
                    if body.status_code != 200 or digest != listed[filename]["sha256"]:
                        problems.append(f"download {filename}: {body.status_code}")
                    with lock:
                        reads["packages"] += 1

        def guarded(work, *args) -> None:  # type: ignore[no-untyped-def]
            try:
                work(*args)
            except Exception as exc:  # report every failure, not only the first
                problems.append(f"{work.__name__}: {exc!r}")

        with ThreadPoolExecutor(UPLOADERS + READERS) as pool:
            readers = [pool.submit(guarded, read, seed) for seed in range(READERS)]
            uploaders = [pool.submit(guarded, upload, paths) for paths in jobs]
            for future in uploaders:
                future.result()
            done.set()
            for future in readers:
                future.result()

        assert problems == []
        assert reads["repodata"] > 0 and reads["packages"] > 0
        present = set()
        for subdir in ("noarch", "linux-64"):
            present |= set(
                httpx.get(f"{server.url}/main/{subdir}/repodata.json").json()["packages.conda"]
            )
        assert present == {path.name for paths in jobs for path in paths}
