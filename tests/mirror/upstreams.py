"""Upstream channels for the mirror's integration tests: packages py-rattler can install, indexed
by rattler-index (with or without shards) or by Stockyard, served by a plain threaded static
file server on 127.0.0.1 that logs requests, answers Range requests and can misbehave."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import rattler
from rattler.index import index_fs

from tests.server.artifacts import make_artifact

#: (subdir, name, version, build, depends, license)
PACKAGES = [
    ("noarch", "gamma", "1.0", "0", [], "MIT"),
    ("noarch", "beta", "1.0", "0", ["gamma"], "MIT"),
    ("noarch", "beta", "2.0", "0", ["gamma >=1"], "BSD-3-Clause"),
    ("noarch", "alpha", "3.1", "0", ["beta >=2"], "Apache-2.0"),
    ("noarch", "extra", "1.0", "0", [], "MIT"),
    ("noarch", "other", "1.0", "0", ["gamma"], "GPL-3.0-only"),
    ("linux-64", "native", "0.5", "h0_0", ["alpha 3.*"], "MIT"),
    ("linux-64", "unrelated", "1.0", "0", [], "MIT"),
]
#: What `native` installs with, from any upstream built from PACKAGES.
NATIVE_ENV = ["alpha-3.1-0.conda", "beta-2.0-0.conda", "gamma-1.0-0.conda", "native-0.5-h0_0.conda"]


def build_packages(root: Path, packages: list = PACKAGES) -> None:  # type: ignore[type-arg]
    for subdir, name, version, build, depends, license_text in packages:
        make_artifact(
            root / subdir, name, version, build, subdir=subdir, depends=depends,
            license=license_text,
        )  # fmt: skip


def rattler_index(root: Path, *, shards: bool) -> None:
    (root / "noarch").mkdir(parents=True, exist_ok=True)
    asyncio.run(index_fs(root, write_shards=shards, force=True))
    touch_documents(root)


def touch_documents(root: Path) -> None:
    """Move the documents' mtime ahead: Last-Modified has one-second granularity, and a
    re-index within the second of the last fetch would otherwise look unchanged."""
    later = time.time() + 5 + touch_documents.calls  # type: ignore[attr-defined]
    touch_documents.calls += 2  # type: ignore[attr-defined]
    for path in root.rglob("*"):
        if path.is_file() and path.name.startswith(("repodata", "channeldata")):
            os.utime(path, (later, later))


touch_documents.calls = 0  # type: ignore[attr-defined]

Override = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass
class StaticServer:
    root: Path
    url: str = ""
    #: (method, path, status, Range header, If-Modified-Since header)
    log: list[tuple[str, str, int, str | None, str | None]] = field(default_factory=list)
    #: path -> what to answer instead of the file.
    overrides: dict[str, Override] = field(default_factory=dict)
    #: Seconds to sleep per 64 KiB sent (a slow link), 0 for full speed.
    throttle: float = 0.0

    def paths(self, since: int = 0) -> list[str]:
        return [entry[1] for entry in self.log[since:]]


def _handler(server: StaticServer) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def send_response(self, code: int, message: str | None = None) -> None:
            server.log.append(
                (
                    self.command,
                    self.path,
                    code,
                    self.headers.get("Range"),
                    self.headers.get("If-Modified-Since"),
                )
            )
            super().send_response(code, message)

        def do_GET(self) -> None:
            override = server.overrides.get(self.path)
            if override is not None:
                override(self)
                return
            path = Path(self.translate_path(self.path))
            if path.is_file() and (self.headers.get("Range") or server.throttle):
                self._send_file(path)
                return
            super().do_GET()

        def _send_file(self, path: Path) -> None:
            data = path.read_bytes()
            start = 0
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes=") and ranged.endswith("-"):
                start = int(ranged[6:-1])
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            for offset in range(start, len(data), 1 << 16):
                self.wfile.write(data[offset : offset + (1 << 16)])
                time.sleep(server.throttle)

    return Handler


@contextmanager
def static_server(root: Path) -> Iterator[StaticServer]:
    state = StaticServer(root)
    handler = functools.partial(_handler(state), directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def solve(url: str, specs: list[str], cache: Path, *, sharded: bool) -> list[str]:
    gateway = rattler.Gateway(
        cache_dir=cache,
        default_config=rattler.SourceConfig(sharded_enabled=sharded, cache_action="no-cache"),
    )
    records = asyncio.run(
        rattler.solve(
            [rattler.Channel(url)],
            specs,
            gateway=gateway,
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
        )
    )
    return sorted(str(r.file_name) for r in records)


def install(url: str, specs: list[str], tmp: Path) -> Path:
    async def run() -> None:
        records = await rattler.solve(
            [rattler.Channel(url)],
            specs,
            gateway=rattler.Gateway(cache_dir=tmp / "cache"),
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
        )
        await rattler.install(
            records,
            target_prefix=tmp / "env",
            cache_dir=tmp / "pkgs",
            show_progress=False,
            platform=rattler.Subdir("linux-64"),
        )

    asyncio.run(run())
    return tmp / "env"


def records_without_stamps(path: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    """filename -> record of a repodata.json, `indexed_timestamp` (each server's own) left out."""
    document = json.loads(path.read_bytes())
    out = {}
    for section in ("packages", "packages.conda"):
        for filename, record in document.get(section, {}).items():
            out[filename] = {k: v for k, v in record.items() if k != "indexed_timestamp"}
    return out
