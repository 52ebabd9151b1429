"""JSON Schema export: every document type we read or write, generated from the Structs.

The schemas in the repository's `schemas/` directory are produced by `export_schemas` (CLI:
`stockyard schema export DIR`); a test fails when they are stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from stockyard.types.channeldata import Channeldata
from stockyard.types.encoding import encode_json
from stockyard.types.package_files import AboutJson, LinkJson, PathsJson
from stockyard.types.patches import PatchInstructions
from stockyard.types.records import IndexJson, PackageRecord, RunExports
from stockyard.types.repodata import Repodata, RunExportsDocument, Shard, ShardIndex

SCHEMA_BASE_URI = "https://stockyard.dev/schemas/"

#: schema file stem -> (Struct, title, description)
DOCUMENTS: dict[str, tuple[type, str]] = {
    "repodata": (Repodata, "repodata.json (CEP 36, CEP 15, CEP 48)"),
    "package_record": (PackageRecord, "A repodata package record (CEP 36, CEP 47, CEP 21)"),
    "index_json": (IndexJson, "info/index.json of a conda artifact (CEP 34)"),
    "channeldata": (Channeldata, "channeldata.json (CEP 38)"),
    "run_exports": (RunExportsDocument, "<subdir>/run_exports.json (CEP 12)"),
    "run_exports_json": (RunExports, "info/run_exports.json, dictionary form (CEP 34)"),
    "shard_index": (ShardIndex, "repodata_shards.msgpack.zst, decoded (CEP 16)"),
    "shard": (Shard, "shards/<sha256>.msgpack.zst, decoded (CEP 16, CEP 21)"),
    "patch_instructions": (PatchInstructions, "patch_instructions.json, versions 1 and 2"),
    "about_json": (AboutJson, "info/about.json (CEP 34)"),
    "paths_json": (PathsJson, "info/paths.json (CEP 34)"),
    "link_json": (LinkJson, "info/link.json (CEP 34)"),
}


def schema_for(stem: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one document type."""
    struct, title = DOCUMENTS[stem]
    schema = msgspec.json.schema(struct)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URI}{stem}.schema.json",
        "title": title,
        **schema,
    }


def render_schemas() -> dict[str, bytes]:
    """filename -> bytes for every schema; pretty-printed so diffs are readable."""
    out: dict[str, bytes] = {}
    for stem in sorted(DOCUMENTS):
        pretty = msgspec.json.format(encode_json(schema_for(stem)), indent=2) + b"\n"
        out[f"{stem}.schema.json"] = pretty
    return out


def export_schemas(directory: Path) -> list[Path]:
    """Write every schema into `directory`; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in render_schemas().items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written
