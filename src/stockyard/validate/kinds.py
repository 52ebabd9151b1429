"""The kinds of documents `stockyard validate` knows, and how a filename tells the kind."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Final

#: kind -> what it is (shown in the CLI help).
KINDS: Final[dict[str, str]] = {
    "repodata": "repodata.json, repodata_from_packages.json, current_repodata.json (+ .zst/.bz2)",
    "packages": "a bare {filename: record} map, e.g. a sample of repodata records",
    "channeldata": "channeldata.json at the channel root (CEP 38)",
    "run_exports": "<subdir>/run_exports.json (CEP 12)",
    "run_exports_json": "info/run_exports.json of an artifact (CEP 34)",
    "patch_instructions": "patch_instructions.json (versions 1 and 2)",
    "index_json": "info/index.json of an artifact (CEP 34)",
    "about_json": "info/about.json of an artifact (CEP 34)",
    "paths_json": "info/paths.json of an artifact (CEP 34)",
    "link_json": "info/link.json of an artifact (CEP 34)",
    "shard_index": "repodata_shards.msgpack.zst (CEP 16)",
    "shard": "shards/<sha256>.msgpack.zst (CEP 16, CEP 21)",
    "artifact": "a .conda or .tar.bz2 package",
}

#: Compression suffixes a JSON document may carry (CEP 36).
JSON_COMPRESSIONS: Final = (".zst", ".bz2")

_EXACT_JSON_NAMES: Final = {
    "channeldata.json": "channeldata",
    "patch_instructions.json": "patch_instructions",
    "index.json": "index_json",
    "about.json": "about_json",
    "paths.json": "paths_json",
    "link.json": "link_json",
}
# CEP 36: repodata variants are named like `*repodata*.json`.
_REPODATA_NAME = re.compile(r"^[^/]*repodata[^/]*\.json$")
_SHARD_INDEX_NAME = re.compile(r"^repodata_shards[a-z_]*\.msgpack(\.zst)?$")


def detect_kind(path: PurePath) -> str | None:
    """The kind of a file from its name (and, for run_exports.json, its directory)."""
    name = path.name
    if name.endswith((".conda", ".tar.bz2")):
        return "artifact"
    if _SHARD_INDEX_NAME.fullmatch(name):
        return "shard_index"
    if name.endswith((".msgpack.zst", ".msgpack")):
        return "shard"
    for suffix in JSON_COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if name == "run_exports.json":
        return "run_exports_json" if path.parent.name == "info" else "run_exports"
    if name in _EXACT_JSON_NAMES:
        return _EXACT_JSON_NAMES[name]
    if _REPODATA_NAME.fullmatch(name):
        return "repodata"
    return None


def sniff_kind(data: object) -> str | None:
    """The kind of a decoded JSON document whose filename does not tell, from its top-level keys."""
    if not isinstance(data, dict) or not data:
        return None
    if "channeldata_version" in data:
        return "channeldata"
    if "patch_instructions_version" in data or "revoke" in data or "remove" in data:
        return "patch_instructions"
    maps = [data[k] for k in ("packages", "packages.conda") if isinstance(data.get(k), dict)]
    if maps or "repodata_version" in data:
        first = next((v for m in maps for v in m.values()), None)
        if isinstance(first, dict) and set(first) == {"run_exports"}:
            return "run_exports"
        return "repodata"
    if all(isinstance(k, str) and k.endswith((".conda", ".tar.bz2")) for k in data):
        return "packages"
    if {"name", "version", "build"} <= set(data):
        return "index_json"
    return None
