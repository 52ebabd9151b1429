"""moto's S3 server as a real process on 127.0.0.1, for tests and benchmarks.

The tests talk HTTP to a separate process (never a mocked client), so request signing, ranged
GETs, multipart uploads, conditional requests and concurrency are exercised as with any
S3-compatible service. Usage:

    with s3_server() as server:
        server.create_bucket("stockyard")
        store = server.store("stockyard", "prefix")
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Credentials moto accepts; handed to clients explicitly so no test depends on the
#: environment or on a ~/.aws profile.
CREDENTIALS = {
    "aws_access_key_id": "stockyard-test",
    "aws_secret_access_key": "stockyard-test-secret",
    "region_name": "us-east-1",
}
#: The same credentials as the standard variables, for child processes (replicas, CLIs).
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
    "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    "AWS_DEFAULT_REGION": CREDENTIALS["region_name"],
}


@dataclass
class S3Server:
    url: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        import boto3

        return boto3.session.Session(**CREDENTIALS).client("s3", endpoint_url=self.url)

    def create_bucket(self, bucket: str) -> str:
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def environment(self) -> dict[str, str]:
        """Variables that point a child process at this server."""
        return {**ENVIRONMENT, "AWS_ENDPOINT_URL": self.url}

    def store(self, bucket: str, prefix: str = "", **options: Any) -> Any:
        from stockyard.storage.s3 import S3Store

        return S3Store(bucket, prefix, endpoint_url=self.url, **CREDENTIALS, **options)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def s3_server(timeout: float = 30.0, log: Path | None = None) -> Iterator[S3Server]:
    """Start `python -m moto.server` on a free port of 127.0.0.1; stop it on exit."""
    # A port can be taken between probing and binding: try a few.
    for _ in range(5):
        port = _free_port()
        sink = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=sink,
            env={**os.environ, "MOTO_PORT": str(port)},
        )
        if _wait_listening(port, process, timeout):
            break
        _stop(process)
        if sink is not subprocess.DEVNULL:
            sink.close()
    else:
        raise RuntimeError("moto's S3 server did not start")
    try:
        yield S3Server(f"http://127.0.0.1:{port}", process)
    finally:
        _stop(process)
        if sink is not subprocess.DEVNULL:
            sink.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
