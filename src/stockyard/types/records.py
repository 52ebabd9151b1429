"""Package-level metadata: `info/index.json` (CEP 34) and the repodata package record (CEP 36).

These Structs are the one source of truth for the shape of these documents. They are used to
*validate* and to *generate JSON Schemas*; the indexing pipeline itself carries records as plain
dicts, because conda records keep unknown keys (old channels hold `date`, `binstar`, `requires`,
`app_entry`...) and we must republish them untouched. `validate_record` checks a dict against the
Struct and returns the dict itself, unknown keys included.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import Meta

from stockyard.types import identifiers as ids

PackageName = Annotated[
    str,
    Meta(
        pattern=ids.search_pattern(ids.PACKAGE_NAME_PATTERN),
        max_length=ids.MAX_NAME,
        description="CEP 26 distributable package name (lowercase).",
    ),
]
VersionString = Annotated[
    str,
    Meta(
        pattern=ids.search_pattern(ids.VERSION_PATTERN),
        max_length=ids.MAX_VERSION,
        description="CEP 26 version.",
    ),
]
BuildString = Annotated[
    str,
    Meta(
        pattern=ids.search_pattern(ids.BUILD_PATTERN),
        max_length=ids.MAX_BUILD,
        description="CEP 26 build string.",
    ),
]
Subdir = Annotated[
    str,
    Meta(
        pattern=ids.search_pattern(ids.SUBDIR_PATTERN),
        max_length=ids.MAX_SUBDIR,
        description="CEP 26 subdir.",
    ),
]
NonNegativeInt = Annotated[int, Meta(ge=0)]
Md5Hex = Annotated[
    str, Meta(pattern=ids.search_pattern(ids.MD5_PATTERN), description="Lowercase hex MD5.")
]
Sha256Hex = Annotated[
    str, Meta(pattern=ids.search_pattern(ids.SHA256_PATTERN), description="Lowercase hex SHA-256.")
]
MatchSpecString = Annotated[str, Meta(min_length=1, description="A CEP 29 MatchSpec string.")]
TimestampMs = Annotated[
    int,
    Meta(
        ge=0,
        description=(
            "Unix time in milliseconds (CEP 34). Very old packages carry seconds; "
            "readers treat values below 1e11 as seconds."
        ),
    ),
]
NoarchKind = Literal["generic", "python"]


class RunExports(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """`info/run_exports.json` in dictionary form (CEP 34); also CEP 21 `run_exports` of a record.

    The list form of the file (`["a", "b"]`) means `{"weak": ["a", "b"]}`; readers normalize it.
    """

    weak: list[MatchSpecString] = []
    strong: list[MatchSpecString] = []
    weak_constrains: list[MatchSpecString] = []
    strong_constrains: list[MatchSpecString] = []
    noarch: list[MatchSpecString] = []
    #: CEP 34: present (>= 2) only in newer files; absent means 1.
    schema_version: Annotated[int, Meta(ge=1)] | None = None


class IndexJson(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """`info/index.json` of a conda artifact (CEP 34). Unknown keys are allowed and kept."""

    name: PackageName
    version: VersionString
    build: BuildString
    build_number: NonNegativeInt
    depends: list[MatchSpecString] = []
    constrains: list[MatchSpecString] = []
    subdir: Subdir | None = None
    noarch: NoarchKind | None = None
    timestamp: TimestampMs | None = None
    track_features: str | None = None
    features: str | None = None
    license: str | None = None
    license_family: str | None = None
    arch: str | None = None
    platform: str | None = None
    python_site_packages_path: str | None = None
    schema_version: NonNegativeInt | None = None


class PackageRecord(IndexJson, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """A package record as published in `repodata.json` (CEP 36) plus indexer fields.

    `md5` and `size` are required by every client; `sha256` is absent only in very old channels.
    """

    md5: Md5Hex
    size: NonNegativeInt
    sha256: Sha256Hex | None = None
    #: CEP 47: when the artifact was first indexed, in milliseconds. Never overwritten.
    indexed_timestamp: TimestampMs | None = None
    #: For a `.conda` record that has a `.tar.bz2` twin: the twin's hash and size.
    legacy_bz2_md5: Md5Hex | None = None
    legacy_bz2_size: NonNegativeInt | None = None
    #: Set by a `revoke` patch instruction.
    revoked: bool | None = None
    #: CEP 21: the artifact's run_exports, carried in shards and v3 records.
    run_exports: RunExports | None = None
    #: CEP 44: optional dependency groups (only in `v3` records).
    extra_depends: dict[str, list[MatchSpecString]] | None = None


# The fields of `PackageRecord`, in the same order (the schema and encodings depend on it), with
# bytes instead of hex for the hashes. A sibling rather than a subclass: re-typing `md5` in a
# subclass is an incompatible override. The docstring is the schema's description: keep it as is.
class ShardRecord(IndexJson, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """A package record inside a CEP 16 shard: hashes are raw bytes (msgpack `bin`), not hex."""

    md5: Annotated[bytes, Meta(min_length=16, max_length=16)]
    size: NonNegativeInt
    sha256: Annotated[bytes, Meta(min_length=32, max_length=32)] | None = None
    indexed_timestamp: TimestampMs | None = None
    #: Bytes like the other hashes (CEP 16, rattler). conda-index keeps it as a hex string; msgspec
    #: cannot type a bytes-or-str union, so the validator reports that form (docs/specs/shards.md).
    legacy_bz2_md5: Annotated[bytes, Meta(min_length=16, max_length=16)] | None = None
    legacy_bz2_size: NonNegativeInt | None = None
    revoked: bool | None = None
    run_exports: RunExports | None = None
    extra_depends: dict[str, list[MatchSpecString]] | None = None


def validate_index_json(data: Any) -> dict[str, Any]:
    """Check an `index.json` dict; return it (unknown keys kept). Raises msgspec.ValidationError."""
    msgspec.convert(data, IndexJson)
    return cast(dict[str, Any], data)


def validate_record(data: Any) -> dict[str, Any]:
    """Check a repodata record dict; return it (unknown keys kept). Raises ValidationError."""
    msgspec.convert(data, PackageRecord)
    return cast(dict[str, Any], data)


def normalize_run_exports(data: Any) -> dict[str, list[str]]:
    """Turn either form of `run_exports.json` into the dictionary form (CEP 34).

    Raises msgspec.ValidationError when the shape is wrong.
    """
    if isinstance(data, list):
        data = {"weak": data}
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "schema_version"}
    msgspec.convert(data, RunExports)
    return {k: list(v) for k, v in data.items() if v}
