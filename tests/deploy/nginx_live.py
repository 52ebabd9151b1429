"""A real nginx (Debian's) on a free 127.0.0.1 port, in the foreground, stopped at the end."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def worker_user() -> str | None:
    """Run as root, nginx would switch its workers to `nobody`, who cannot read pytest's
    (0700) temp directories; keep them root in tests. Unprivileged, nginx stays who it is."""
    return "root" if os.geteuid() == 0 else None


def nginx_head(prefix: Path, *, access_log: str = "off") -> str:
    """The start of a throwaway nginx.conf under `prefix`, up to inside its `http` block: pid,
    logs and every temp path in `prefix`, workers as `worker_user()`. Close the block with
    "}" after the servers."""
    user = worker_user()
    return f"""{f"user {user};" if user else ""}
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log {access_log};
    client_body_temp_path {prefix}/client_body_temp;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
    keepalive_requests 100000;
"""


def nginx_check(conf: Path, prefix: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on a complete configuration file."""
    assert NGINX is not None
    return subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def running_nginx(conf: Path, prefix: Path, port: int) -> Iterator[subprocess.Popen]:
    """nginx with `conf` (whose pid, logs and temp files live in `prefix`), listening on
    127.0.0.1:`port`; stopped (SIGQUIT, then SIGKILL) when the block ends."""
    assert NGINX is not None
    process = subprocess.Popen(
        [
            *(NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)),
            *("-g", "daemon off;"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not _accepts(port):
            if process.poll() is not None:
                raise RuntimeError(
                    f"nginx exited: {process.stderr.read() if process.stderr else ''}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start listening")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
