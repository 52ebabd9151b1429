"""An upstream channel, read the cheapest way it offers.

Per subdir: the CEP 16 shard index (`repodata_shards.msgpack.zst`) and the shards it names when
present (a shard whose hash the cache holds is never fetched again), else `repodata.json.zst`,
else `repodata.json`, each asked for conditionally (see `stockyard.mirror.state`). These carry
upstream's *patched* records, which the mirror reproduces by default. `--unpatched` reads
`repodata_from_packages.json` instead (monolithic only: CEP 16 shards carry patched records);
an upstream without it (rattler-index writes none) publishes no patches, so its repodata.json
is taken as the unpatched records.

Subdirs: those asked for, else channeldata.json's list, else the subdirs found (a local
directory is listed; over HTTP every platform py-rattler knows is probed).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin

from stockyard.mirror import documents as docs
from stockyard.mirror.documents import ShardIndexDoc, SubdirRecords
from stockyard.mirror.errors import UpstreamError
from stockyard.mirror.fetch import Fetcher, is_local, local_path, redact
from stockyard.mirror.state import MirrorState, write_atomic
from stockyard.types.errors import InvalidIdentifier
from stockyard.types.identifiers import check_subdir
from stockyard.types.repodata import (
    CHANNELDATA_JSON,
    REPODATA_FROM_PACKAGES,
    REPODATA_JSON,
    SHARD_INDEX,
)

REPODATA_ZST = f"{REPODATA_JSON}.zst"
#: How the subdirs were found: asked for, channeldata.json's list, a local directory's listing,
#: or probing every platform over HTTP.
Discovery = Literal["given", "channeldata", "listing", "probe"]


@dataclass(slots=True)
class UpstreamSubdir:
    subdir: str
    records: SubdirRecords
    #: Absolute URL the artifact filenames are relative to (ends with '/').
    artifact_base: str
    #: What the records were read from: "shards", "repodata.json.zst", ...
    source: str
    #: Whether its document is what the last run read (`MirrorState.unchanged`; shards are named
    #: by their hash in it).
    unchanged: bool


class Upstream:
    def __init__(self, url: str, fetcher: Fetcher, state: MirrorState, jobs: int) -> None:
        self.url = url.rstrip("/") + "/"
        self.fetcher = fetcher
        self.state = state
        self.jobs = max(1, jobs)
        self.discovery: Discovery = "given"

    def subdirs(self, wanted: tuple[str, ...]) -> list[str]:
        if wanted:
            self.discovery = "given"
            return sorted({_checked_subdir(s) for s in wanted})
        channeldata = self.state.document(self.fetcher, CHANNELDATA_JSON)
        if channeldata is not None:
            listed = docs.decode_json(channeldata, self._where(CHANNELDATA_JSON)).get("subdirs")
            if isinstance(listed, list) and listed:
                self.discovery = "channeldata"
                return sorted({_checked_subdir(s) for s in listed} | {"noarch"})
        self.discovery = "listing" if is_local(self.url) else "probe"
        found = self.found_subdirs()
        if not found:
            raise UpstreamError(
                f"{redact(self.url)} has no noarch/repodata.json and no channeldata.json, so it "
                "is not a conda channel",
                hint="Pass the channel's URL (the folder holding noarch/), with /t/<token>/ if "
                "it is private.",
            )
        return found

    def found_subdirs(self) -> list[str]:
        """The subdirs a local upstream holds, or those an HTTP upstream answers for."""
        if is_local(self.url):
            root = local_path(self.url)
            if not root.is_dir():
                raise UpstreamError(f"upstream directory {root} does not exist")
            return sorted(
                d.name for d in root.iterdir() if _is_subdir(d) and (d / REPODATA_JSON).is_file()
            )
        from rattler import Subdir  # only probing needs it

        names = [str(p) for p in Subdir.all()]
        with ThreadPoolExecutor(self.jobs) as pool:
            present = list(pool.map(self._probe, names))
        return sorted(name for name, ok in zip(names, present, strict=True) if ok)

    def _probe(self, subdir: str) -> bool:
        url = urljoin(self.url, f"{subdir}/{REPODATA_JSON}")
        response = self.fetcher.retrying(lambda: self.fetcher.client.head(url), url)
        return response.status_code == 200

    def read(self, subdir: str, *, unpatched: bool) -> UpstreamSubdir:
        if unpatched:
            raw = self.state.document(self.fetcher, f"{subdir}/{REPODATA_FROM_PACKAGES}")
            if raw is not None:
                return self._monolithic(subdir, REPODATA_FROM_PACKAGES, raw)
        else:
            index = self.state.document(self.fetcher, f"{subdir}/{SHARD_INDEX}")
            if index is not None:
                return self._sharded(subdir, index)
        for name in (REPODATA_ZST, REPODATA_JSON):
            raw = self.state.document(self.fetcher, f"{subdir}/{name}")
            if raw is not None:
                return self._monolithic(subdir, name, raw)
        raise UpstreamError(f"{redact(self.url)} has no repodata for {subdir}")

    def _monolithic(self, subdir: str, name: str, raw: bytes) -> UpstreamSubdir:
        relative = f"{subdir}/{name}"
        where = self._where(relative)
        try:
            if name.endswith(".zst"):
                raw = docs.decompress(raw, where)
            document = docs.decode_json(raw, where)
            records = docs.repodata_records(document, where)
        except UpstreamError:
            self.state.forget(relative)  # never trust this cached copy again
            raise
        info = document.get("info")
        base = info.get("base_url") if isinstance(info, dict) else None
        artifact_base = self._base(relative, base if isinstance(base, str) and base else "./")
        cached = self.state.unchanged(relative)
        return UpstreamSubdir(subdir, records, artifact_base, name, cached)

    def _sharded(self, subdir: str, raw: bytes) -> UpstreamSubdir:
        relative = f"{subdir}/{SHARD_INDEX}"
        try:
            index = docs.shard_index(raw, self._where(relative))
        except UpstreamError:
            self.state.forget(relative)
            raise
        shards_base = self._base(relative, index.shards_base_url or "./shards/")
        records = SubdirRecords()
        with ThreadPoolExecutor(self.jobs) as pool:
            for name, document in zip(
                index.shards,
                pool.map(lambda n: self._shard(subdir, shards_base, index, n), index.shards),
                strict=True,
            ):
                where = self._where(f"{subdir} shard of {name}")
                for section in docs.SECTIONS:
                    records.add_section(document.get(section), where, shard=True)
                records.add_removed(document.get("removed"))
        self._drop_old_shards(subdir, index)
        base = self._base(relative, index.base_url or "./")
        cached = self.state.unchanged(relative)
        return UpstreamSubdir(subdir, records, base, "shards", cached)

    def _shard(self, subdir: str, base: str, index: ShardIndexDoc, name: str) -> dict[str, object]:
        digest = index.shards[name]
        cached = self.state.cache / subdir / "shards" / f"{digest}.msgpack.zst"
        url = urljoin(base, f"{digest}.msgpack.zst")
        if cached.is_file():
            raw = cached.read_bytes()
        else:
            found = self.fetcher.document(url)
            if found.status != "ok":
                raise UpstreamError(f"{redact(url)}: the shard of {name!r} is missing upstream")
            raw = found.body
            if hashlib.sha256(raw).hexdigest() != digest:
                raise UpstreamError(
                    f"{redact(url)}: the shard of {name!r} does not match its sha256 in the "
                    "shard index (truncated, or the index is stale)"
                )
            write_atomic(cached, raw)
        return docs.decode_msgpack(raw, redact(url))

    def _drop_old_shards(self, subdir: str, index: ShardIndexDoc) -> None:
        folder = self.state.cache / subdir / "shards"
        current = {f"{digest}.msgpack.zst" for digest in index.shards.values()}
        for path in folder.glob("*.msgpack.zst") if folder.is_dir() else ():
            if path.name not in current:
                path.unlink(missing_ok=True)

    def _base(self, relative: str, reference: str) -> str:
        """`reference` (CEP 15/16 base URL: absolute, or relative to the document) resolved."""
        resolved = urljoin(urljoin(self.url, relative), reference)
        return resolved if resolved.endswith("/") else resolved + "/"

    def _where(self, relative: str) -> str:
        return f"upstream {redact(self.url)}{relative}"


def _checked_subdir(subdir: object) -> str:
    try:
        return check_subdir(subdir)
    except InvalidIdentifier as exc:
        raise UpstreamError(exc.message, hint="Subdirs look like noarch or linux-64.") from None


def _is_subdir(path: Path) -> bool:
    try:
        check_subdir(path.name)
    except InvalidIdentifier:
        return False
    return path.is_dir()
