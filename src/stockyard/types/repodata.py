"""Channel-level documents: repodata.json (CEP 36, 15, 48), run_exports.json (CEP 12),
shard index and shards (CEP 16, 21)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from stockyard.types.records import PackageRecord, RunExports, ShardRecord, Subdir

#: Filenames of everything the indexer publishes in a subdir.
REPODATA_JSON = "repodata.json"
REPODATA_FROM_PACKAGES = "repodata_from_packages.json"
CURRENT_REPODATA = "current_repodata.json"
SHARD_INDEX = "repodata_shards.msgpack.zst"
SHARDS_DIR = "shards"
RUN_EXPORTS_JSON = "run_exports.json"
PATCH_INSTRUCTIONS_JSON = "patch_instructions.json"
CHANNELDATA_JSON = "channeldata.json"
#: CEP 27 attestations kept next to their artifact (`<subdir>/<filename>.v0.sigs`, the layout of
#: conda/ceps#142's draft that prefix.dev serves): they go where the artifact goes.
ATTESTATIONS_SUFFIX = ".v0.sigs"


def icon_path(icon_sha256: str) -> str:
    """Where a package icon is published, relative to the channel root (content-addressed)."""
    return f"icons/{icon_sha256}.png"


ArtifactKey = Literal["packages", "packages.conda"]


#: CEP 48: a revision key, `vN` with N an integer >= 3 (`v3`, ..., `v10`, ...). msgspec searches
#: patterns, where `$` also matches before a final newline: `(?!\n)` refuses one.
RevisionKey = Annotated[str, Meta(pattern=r"^v([3-9]|[1-9][0-9]+)(?!\n)$")]


class RevisionInfo(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """CEP 48: metadata about one `vN` revision key. `n_packages` is the number of records
    under `vN` in this document; `oldest` / `newest` their smallest / largest
    `indexed_timestamp` (ms)."""

    message: Annotated[str, Meta(max_length=8192)] | None = None
    n_packages: Annotated[int, Meta(ge=0)] | None = None
    newest: Annotated[int, Meta(ge=0)] | None = None
    oldest: Annotated[int, Meta(ge=0)] | None = None


class RepodataInfo(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    subdir: Subdir | None = None
    #: CEP 48 names `info.repodata_version`; conda-index and rattler write it at the top level
    #: (as we do). Both places are accepted.
    repodata_version: Annotated[int, Meta(ge=1, le=2)] | None = None
    #: CEP 15: where artifacts live, absolute or relative to the repodata URL (with
    #: `repodata_version: 2`).
    base_url: str | None = None
    #: CEP 48: the `vN` top-level keys of this document, with their metadata.
    repodata_revisions: dict[RevisionKey, RevisionInfo] | None = None


class Repodata(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """`<subdir>/repodata.json` (CEP 36). Also `repodata_from_packages.json` and
    `current_repodata.json`, which share the format."""

    info: RepodataInfo | None = None
    packages: dict[str, PackageRecord] = {}
    packages_conda: dict[str, PackageRecord] = msgspec.field(default={}, name="packages.conda")
    removed: list[str] = []
    repodata_version: Annotated[int, Meta(ge=1, le=2)] | None = None
    #: Content-trust signatures keyed by filename (conda's metadata signing).
    signatures: dict[str, Any] | None = None
    #: CEP 48 revision 3: `{extension: {filename without extension: record}}`, the records that
    #: use CEP 43/44/45 syntax (kept out of `packages` / `packages.conda`).
    v3: dict[Annotated[str, Meta(min_length=1)], dict[str, PackageRecord]] | None = None


class RunExportsEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    run_exports: RunExports


class RunExportsInfo(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """CEP 12: the `info` object of run_exports.json."""

    subdir: Subdir | None = None
    platform: str | None = None
    arch: str | None = None
    version: int | None = None


class RunExportsDocument(
    msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False
):
    """`<subdir>/run_exports.json` (CEP 12): run_exports of every artifact, keyed by filename."""

    info: RunExportsInfo | None = None
    packages: dict[str, RunExportsEntry] = {}
    packages_conda: dict[str, RunExportsEntry] = msgspec.field(default={}, name="packages.conda")


class ShardIndexInfo(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    subdir: Subdir | None = None
    #: Where artifacts live; absolute or relative to the shard index; ends with '/'.
    base_url: str
    #: Where shards live; absolute or relative to the shard index; ends with '/'.
    shards_base_url: str
    created_at: str | None = None


class ShardIndex(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """`<subdir>/repodata_shards.msgpack.zst` (CEP 16): package name -> sha256 of its shard."""

    info: ShardIndexInfo
    version: Literal[1] = 1
    shards: dict[str, Annotated[bytes, Meta(min_length=32, max_length=32)]] = {}


class Shard(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """`<subdir>/shards/<sha256>.msgpack.zst` (CEP 16): the records of one package name."""

    packages: dict[str, ShardRecord] = {}
    packages_conda: dict[str, ShardRecord] = msgspec.field(default={}, name="packages.conda")
    removed: list[str] = []
    #: CEP 48 revision 3, as in repodata.json: `{extension: {filename without extension: record}}`.
    v3: dict[Annotated[str, Meta(min_length=1)], dict[str, ShardRecord]] | None = None
