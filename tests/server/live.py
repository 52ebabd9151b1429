"""A real `stockyard serve` process on a free 127.0.0.1 port, for tests that need real clients."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def admin_token(banner: str) -> str:
    """The admin token `stockyard serve` prints on its first start."""
    match = re.search(r"\b(sy-[A-Za-z0-9]{40})\b", banner)
    assert match, banner
    return match.group(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stockyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "stockyard.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    banner: str = ""
    extra: dict = field(default_factory=dict)

    def access_log(self) -> list[dict]:
        """The JSON access-log lines written so far."""
        lines = []
        for line in self.log_path.read_text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("logger") == "stockyard.access":
                lines.append(item)
        return lines


#: A free port can be taken by another test's server between `free_port` and the bind: a server
#: that exits with this in its log is started again on another port (when none was asked for).
_PORT_TAKEN = "address already in use"


@contextmanager
def live_server(
    data_dir: Path,
    *extra_args: str,
    workers: int = 1,
    ca_file: Path | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[LiveServer]:
    """`stockyard serve` with `extra_args` (and `env` added to the environment); with
    `ca_file`, it serves HTTPS (pass --tls-cert and --tls-key in `extra_args`) and the
    readiness check trusts that CA."""
    attempts = 1 if port else 3
    for attempt in range(attempts):
        chosen = port or free_port()
        process, log_path, stdout_path = _spawn(data_dir, chosen, workers, extra_args, env)
        url = f"{'https' if ca_file else 'http'}://127.0.0.1:{chosen}"
        try:
            wait_until_ready(process, url, log_path, ca_file=ca_file)
            break
        except RuntimeError as exc:
            stop_process(process)
            if attempt + 1 == attempts or _PORT_TAKEN not in str(exc):
                raise
    try:
        yield LiveServer(url, data_dir, process, log_path, stdout_path.read_text())
    finally:
        stop_process(process)


def _spawn(
    data_dir: Path,
    port: int,
    workers: int,
    extra_args: tuple[str, ...],
    env: dict[str, str] | None,
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    log_path = data_dir.parent / f"server-{port}.log"
    stdout_path = data_dir.parent / f"server-{port}.out"
    with open(log_path, "a") as log, open(stdout_path, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stockyard.cli.main",
                "serve",
                "--data",
                str(data_dir),
                "--port",
                str(port),
                "--workers",
                str(workers),
                *extra_args,
            ],
            stdout=out,
            stderr=log,
            env={**os.environ, "STOCKYARD_LOG_FORMAT": "json", **(env or {})},
        )
    return process, log_path, stdout_path


def wait_until_ready(
    process: subprocess.Popen[bytes],
    url: str,
    log_path: Path,
    *,
    ca_file: Path | None = None,
    what: str = "server",
    log_tail: int | None = None,
) -> None:
    """Until `url`/health/ready answers 200 (60 s); RuntimeError with the log (its last
    `log_tail` characters) when the process exits first or never gets ready."""
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{_log(log_path, log_tail)}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=2, verify=verify).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{_log(log_path, log_tail)}")
        time.sleep(0.1)


def _log(path: Path, tail: int | None) -> str:
    text = path.read_text()
    return text if tail is None else text[-tail:]


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Terminate, then kill after `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
