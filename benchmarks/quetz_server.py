"""Quetz (`quetz-server`, the Python peer) on 127.0.0.1 for benchmarks/serve.py --quetz.

Quetz runs from its own virtualenv (benchmarks/quetz_env.sh pins its late-2023 dependencies),
as its documented development set-up: `quetz create DIR --copy-conf CONF --dev` (SQLite, local
package store, dummy users), `uvicorn quetz.main:app --workers N` (what `quetz start` runs,
with one process: it has no worker option), the user `alice` logged in through
`/api/dummylogin/alice`, a public channel and an API key created through its REST API,
packages uploaded through its upload and files endpoints.

Channel files are served by the app at `/get/{channel}/{subdir}/{file}`; with the local store
and `redirect_enabled = false` (the default) Quetz streams them itself, without redirect (its
nginx guide turns redirects on and lets nginx serve `/files/channels/`).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.server.live import stop_process, wait_until_ready

ENV_SCRIPT = Path(__file__).with_name("quetz_env.sh")
#: The release benchmarked (the last one, 2023-12); quetz_env.sh pins it.
QUETZ_VERSION = "0.10.4"


def ensure_env(venv: Path, python: str) -> tuple[Path | None, str]:
    """Create (or reuse) Quetz's virtualenv; (its python, "") or (None, why it failed)."""
    try:
        result = subprocess.run(
            ["bash", str(ENV_SCRIPT), str(venv), python],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{ENV_SCRIPT.name}: {exc}"
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        return None, f"{ENV_SCRIPT.name} exited {result.returncode}: {tail}"
    return Path(result.stdout.strip().splitlines()[-1]), ""


@dataclass
class Deployment:
    python: Path
    directory: Path

    @property
    def bin(self) -> Path:
        return self.python.parent

    def env(self) -> dict[str, str]:
        return {**os.environ, "QUETZ_CONFIG_FILE": str(self.directory / "config.toml")}


def create_deployment(python: Path, workdir: Path) -> Deployment:
    """`quetz create --copy-conf --dev`: SQLite database, local store, dummy user alice as
    owner (the config's `[users] admins`)."""
    directory = (workdir / "quetz").resolve()
    conf = workdir / "quetz-config.toml"
    # Warnings only: Quetz logs at INFO through its own handlers, and uvicorn's access log
    # (one line per request, like Stockyard's JSON access log) stays on.
    conf.write_text(
        f"""[sqlalchemy]
database_url = "sqlite:///{directory}/quetz.sqlite"

[session]
secret = "{secrets.token_hex(32)}"
https_only = false

[logging]
level = "WARNING"

[users]
admins = ["dummy:alice"]
"""
    )
    result = subprocess.run(
        [str(python.parent / "quetz"), "create", str(directory), "--copy-conf", str(conf), "--dev"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=workdir,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"quetz create failed:\n{result.stdout}\n{result.stderr}")
    return Deployment(python, directory)


@contextmanager
def running_quetz(deployment: Deployment, port: int, workers: int = 1) -> Iterator[str]:
    """uvicorn with `workers` processes serving `quetz.main:app`; yields the base URL."""
    log_path = deployment.directory.parent / f"quetz-{port}.log"
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [
                *(str(deployment.bin / "uvicorn"), "quetz.main:app"),
                *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=deployment.directory,
            env=deployment.env(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, url, log_path, what="quetz", log_tail=3000)
        yield url
    finally:
        stop_process(process)


def create_channel_and_key(url: str, channel: str) -> str:
    """Log in as the dummy owner, create a public channel and an API key with the user's own
    rights (as the Quetz docs do it); return the key."""
    with httpx.Client(base_url=url, timeout=60) as client:
        # It answers with a redirect to "/" and the session cookie.
        if client.get("/api/dummylogin/alice").status_code != 307:
            raise RuntimeError("quetz: dummy login as alice failed")
        client.post("/api/channels", json={"name": channel, "private": False}).raise_for_status()
        response = client.post("/api/api-keys", json={"description": "benchmark", "roles": []})
        response.raise_for_status()
        return str(response.json()["key"])


def _post_files(
    client: httpx.Client, url: str, channel: str, key: str, paths: list[Path]
) -> httpx.Response:
    files = [("files", (path.name, path.read_bytes())) for path in paths]
    return client.post(
        f"{url}/api/channels/{channel}/files/", files=files, headers={"X-API-Key": key}
    )


def load_channel(
    url: str, key: str, channel: str, paths: list[Path], batch: int = 100
) -> dict[str, Any]:
    """Upload `paths` through Quetz's files endpoint (one multipart POST per `batch`, one
    re-index per POST); a refused batch is retried file by file so one package Quetz cannot
    read does not drop the others. Waits until every accepted file is in its subdir's
    repodata.json."""
    accepted: dict[str, set[str]] = {}
    refused: list[str] = []
    started = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        for start in range(0, len(paths), batch):
            chunk = paths[start : start + batch]
            response = _post_files(client, url, channel, key, chunk)
            if response.status_code == 201:
                done = chunk
            else:
                done = []
                for path in chunk:
                    single = _post_files(client, url, channel, key, [path])
                    if single.status_code == 201:
                        done.append(path)
                    else:
                        refused.append(f"{path.name}: {single.status_code} {single.text[:200]}")
            for path in done:
                accepted.setdefault(path.parent.name, set()).add(path.name)
        posted = time.perf_counter()
        deadline = time.monotonic() + 600
        pending = dict(accepted)
        while pending:
            for subdir in list(pending):
                response = client.get(f"{url}/get/{channel}/{subdir}/repodata.json")
                if response.status_code == 200:
                    body = response.json()
                    listed = set(body.get("packages", {})) | set(body.get("packages.conda", {}))
                    if pending[subdir] <= listed:
                        del pending[subdir]
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"quetz did not index {sum(map(len, pending.values()))} files")
            time.sleep(0.5)
    return {
        "uploaded": sum(len(names) for names in accepted.values()),
        "refused": len(refused),
        "refused_examples": refused[:10],
        "post_seconds": round(posted - started, 1),
        "indexed_seconds": round(time.perf_counter() - started, 1),
    }
