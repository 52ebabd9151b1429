"""Recorded PyPI responses, replayed through an httpx transport so the tests run offline.

`record` (run by hand, with the network: `python -m tests.recipes.replay rich==14.3.3 ...`)
generates each recipe through a recording transport and stores every response under
fixtures/pypi/: the body gzip-compressed, and an entry in index.json keyed by URL and Range
header. sdists are stored trimmed to the files Stockyard reads (pyproject.toml, PKG-INFO,
setup.py), repacked; every other body is the bytes PyPI sent.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).parent / "fixtures" / "pypi"
INDEX = FIXTURES / "index.json"


def _key(url: str, byte_range: str | None) -> str:
    return f"{url} {byte_range or ''}".strip()


def _load_index() -> dict[str, Any]:
    return json.loads(INDEX.read_text()) if INDEX.exists() else {}


class ReplayTransport(httpx.BaseTransport):
    """Serves recorded responses; anything not recorded is a 404 (and listed in `missed`)."""

    def __init__(self) -> None:
        self.index = _load_index()
        self.missed: list[str] = []
        self.requests: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = _key(str(request.url), request.headers.get("Range"))
        self.requests.append(key)
        entry = self.index.get(key)
        if entry is None:
            self.missed.append(key)
            return httpx.Response(404, request=request)
        body = gzip.decompress((FIXTURES / entry["file"]).read_bytes())
        headers = {"content-type": entry.get("content_type", "application/octet-stream")}
        return httpx.Response(entry["status"], content=body, headers=headers, request=request)


def replaying_client(transport: ReplayTransport) -> Any:
    """A stand-in for `pypi.new_http_client` that always replays (for CLI tests)."""
    from stockyard.recipes.pypi import new_http_client

    return lambda _transport=None: new_http_client(transport)


def _trim_sdist(body: bytes) -> bytes:
    wanted = {"pyproject.toml", "PKG-INFO", "setup.py"}
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as source,
        tarfile.open(fileobj=out, mode="w:gz") as target,
    ):
        for member in source:
            parts = member.name.split("/", 1)
            if len(parts) == 2 and parts[1] in wanted and member.isfile():
                handle = source.extractfile(member)
                target.addfile(member, handle)
    return out.getvalue()


class RecordingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.index = _load_index()
        # generate_pypi reads the wheel and the sdist from several threads at once.
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        url = str(request.url)
        if url.endswith((".tar.gz", ".tgz")) and response.status_code == 200:
            body = _trim_sdist(body)
        key = _key(url, request.headers.get("Range"))
        name = hashlib.sha256(key.encode()).hexdigest()[:20] + ".gz"
        with self.lock:
            FIXTURES.mkdir(parents=True, exist_ok=True)
            (FIXTURES / name).write_bytes(gzip.compress(body, mtime=0))
            self.index[key] = {
                "status": response.status_code,
                "file": name,
                "content_type": response.headers.get("content-type", ""),
            }
            INDEX.write_text(json.dumps(self.index, indent=1, sort_keys=True) + "\n")
        return httpx.Response(response.status_code, content=body, headers=response.headers)


def record(specs: list[str]) -> None:
    from stockyard.recipes.pypi_recipe import GenerateOptions
    from stockyard.recipes.service import generate_pypi

    transport = RecordingTransport()
    for spec in specs:
        generate_pypi(spec, GenerateOptions(), transport=transport)
        print(f"recorded {spec}")


if __name__ == "__main__":
    record(sys.argv[1:])
