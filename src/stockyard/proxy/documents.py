"""What a proxy serves for upstream's documents: checked, filtered and localized.

Every document is decoded before it is cached (garbage, truncated or hostile content fails
here, so the next upstream is asked or the cached copy stays in service). Repodata is rewritten
only when it must be: records the filters refuse and records that cannot be verified (no valid
sha256 or size) are left out, and an upstream `base_url` (CEP 15) is dropped so that clients
fetch artifacts through the proxy. `repodata.json.zst` is always derived from the same
`repodata.json` the proxy serves, so the two can never disagree (quetz#715 served a stale
`.zst` after upstream changed): upstream's own `.zst` bytes are used only when the JSON is
served unchanged, for it is then the compression of exactly those bytes.

A shard index is served as upstream's bytes unless its base URLs point elsewhere; a shard is
accepted only when its sha256 is the one its URL names, and every filename in it is a bare
artifact name. With filters, shards are not served at all (their hashes would change with the
filtering, which would mean fetching every shard for the index): clients fall back to
repodata.json.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import msgspec

from stockyard.mirror import documents as docs
from stockyard.proxy.settings import ProxySettings
from stockyard.proxy.upstreams import UpstreamFailed
from stockyard.types.encoding import encode_json, zstd_compress

REPODATA = "repodata.json"
REPODATA_ZST = "repodata.json.zst"
SHARD_INDEX = "repodata_shards.msgpack.zst"
#: Other repodata documents a proxy serves (JSON only, filtered like repodata.json).
OTHER_REPODATA = ("current_repodata.json", "repodata_from_packages.json")
CHANNELDATA = "channeldata.json"
_LOCAL_BASES = ("", "./")
_LOCAL_SHARD_BASES = ("./shards/", "shards/")


@dataclass(slots=True)
class Prepared:
    """What to cache for one upstream document."""

    #: key -> bytes to serve.
    files: dict[str, bytes] = field(default_factory=dict)
    #: Repodata: filename -> (sha256, size) of every record served.
    records: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: Upstream's artifact base URL (repodata) or shards base URL (shard index), resolved.
    base_url: str | None = None


def prepare_repodata(
    settings: ProxySettings, subdir: str, name: str, source: str, raw: bytes, url: str
) -> Prepared:
    """`subdir/name` (repodata.json, current_repodata.json...) from upstream's `source` bytes
    (the same document, or its .zst)."""
    where = f"upstream {redact_url(url)}"
    text = docs.decompress(raw, where) if source.endswith(".zst") else raw
    document = docs.decode_json(text, where)
    prepared = Prepared()
    kept, changed = _kept_sections(settings, subdir, document, where, prepared)
    info = document.get("info")
    base = info.get("base_url") if isinstance(info, dict) else None
    prepared.base_url = urljoin(url, base if isinstance(base, str) and base else "./")
    if isinstance(info, dict) and base not in (None, *_LOCAL_BASES):
        document["info"] = {k: v for k, v in info.items() if k != "base_url"}
        changed = True
    if changed:
        document.update(kept)
        text = encode_json(document)
    key = f"{subdir}/{name}"
    prepared.files[key] = text
    if name == REPODATA:
        unchanged_zst = source == REPODATA_ZST and not changed
        prepared.files[f"{key}.zst"] = raw if unchanged_zst else zstd_compress(text)
    return prepared


def _kept_sections(
    settings: ProxySettings, subdir: str, document: dict[str, Any], where: str, out: Prepared
) -> tuple[dict[str, Any], bool]:
    """The packages sections with only the records served; whether any was left out."""
    kept: dict[str, Any] = {}
    changed = False
    for section in docs.SECTIONS:
        records = document.get(section)
        if records is None:
            continue
        if not isinstance(records, dict):
            raise UpstreamFailed(f"{where}: {section} is not an object")
        kept[section] = {}
        for filename, record in records.items():
            usable = docs.check_record(filename, record, where) is None  # raises on ../
            if usable and settings.keeps(subdir, filename, record):
                kept[section][filename] = record
                out.records[filename] = (str(record["sha256"]).lower(), int(record["size"]))
            else:
                changed = True
    return kept, changed


def prepare_shard_index(subdir: str, raw: bytes, url: str) -> Prepared:
    where = f"upstream {redact_url(url)}"
    index = docs.shard_index(raw, where)
    key = f"{subdir}/{SHARD_INDEX}"
    prepared = Prepared(base_url=urljoin(url, index.shards_base_url or "./shards/"))
    if index.base_url in _LOCAL_BASES and index.shards_base_url in _LOCAL_SHARD_BASES:
        prepared.files[key] = raw
        return prepared
    document = docs.decode_msgpack(raw, where)
    info = dict(document["info"])
    info.update(base_url="./", shards_base_url="./shards/")
    document["info"] = info
    prepared.files[key] = zstd_compress(msgspec.msgpack.encode(document))
    return prepared


def shard_index_hashes(raw: bytes) -> list[str]:
    """The hex sha256 of every shard a (cached, already checked) shard index names."""
    return list(docs.shard_index(raw, "the cached shard index").shards.values())


def check_shard(raw: bytes, digest: str, url: str) -> None:
    """A shard is what its name says, and names only bare artifact filenames."""
    if hashlib.sha256(raw).hexdigest() != digest:
        raise UpstreamFailed("the shard does not match the sha256 in its name")
    where = f"upstream shard {redact_url(url)}"
    document = docs.decode_msgpack(raw, where)
    for section in docs.SECTIONS:
        records = document.get(section)
        if isinstance(records, dict):
            for filename in records:
                docs.check_record(filename, {}, where)


def check_channeldata(raw: bytes, url: str) -> None:
    docs.decode_json(raw, f"upstream {redact_url(url)}")


def redact_url(url: str) -> str:
    from stockyard.mirror.fetch import redact

    return redact(url)
