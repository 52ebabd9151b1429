"""Fetching one artifact for a proxy channel, verified before anything is served.

The download streams into `tmp/` with its size bounded by the record and its sha256 computed on
the way; then it is checked as an upload is (`verify_artifact`: the sha256 again, every member
decompressed within the limits, nothing unsafe, the payload matching paths.json, index.json
agreeing with the filename) and its declared subdir must be the one it is served from. Only
then is it renamed into the cache. A failure deletes the download and the next upstream is
asked; nothing unverified is ever served or kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from stockyard.package.verify import verify_artifact
from stockyard.proxy.cache import Meta, ProxyCache
from stockyard.proxy.upstreams import UpstreamFailed, Upstreams
from stockyard.types.errors import InvalidArtifact


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    subdir: str
    filename: str
    sha256: str
    size: int

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"


def verify_download(path: Path, record: ArtifactRecord) -> None:
    """Blocking: everything an upload is checked for, plus the record's subdir."""
    report = verify_artifact(path, sha256=record.sha256, filename=record.filename)
    report.raise_for_problems()
    meta = report.metadata
    if meta is None:  # raise_for_problems raised already
        raise InvalidArtifact(record.filename, "unreadable")
    declared = meta.index_json.get("subdir")
    if declared is not None and declared != record.subdir:
        raise InvalidArtifact(
            record.filename, f"index.json says subdir {declared!r}, served from {record.subdir}/"
        )


async def fetch_artifact(
    upstreams: Upstreams,
    cache: ProxyCache,
    record: ArtifactRecord,
    base_for: Callable[[str], str],
) -> None:
    """Download `record` from the first upstream that serves it correctly and cache it."""

    async def attempt(upstream: str) -> None:
        url = urljoin(base_for(upstream), record.filename)
        temp = cache.temp_path(record.filename)
        try:
            with open(temp, "wb") as sink:
                sha256 = await upstreams.download(url, sink, record.size)
            if sha256 != record.sha256:
                raise UpstreamFailed(
                    f"{record.key}: sha256 is {sha256}, its record says {record.sha256}"
                )
            await asyncio.to_thread(verify_download, temp, record)
            cache.adopt(record.key, temp)
            meta = Meta(
                upstream=upstream,
                sha256=record.sha256,
                size=record.size,
                checked_at=time.time(),
            )
            cache.write_meta(record.key, meta)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    await upstreams.first_good(record.key, attempt)
