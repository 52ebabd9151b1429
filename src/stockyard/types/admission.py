"""Admission: what a channel publishes of the metadata artifacts carry.

Be liberal in what you read, strict in what you publish. `examine` sorts everything about one
record (an artifact's `info/index.json`, a published repodata record, or a shard record) into

- **errors**: the record cannot be published in a form clients parse (one unreadable record makes
  rattler refuse the whole repodata.json or shard, so one bad artifact would make its subdir
  unpublishable), cannot be encoded (integers beyond msgpack's 64 bits, nesting deeper than
  `MAX_NESTING`), exceeds a size bound (`MAX_RECORD_BYTES`, `MAX_UNKNOWN_BYTES`, `MAX_SPECS`),
  or its identity (name, version, build, subdir) is missing, malformed or disagrees with its
  filename. Such an artifact is refused (uploads) or skipped with the reason (`stockyard index`);
- **warnings**: everything else the strict model (`IndexJson`, `PackageRecord`, `ShardRecord`:
  CEP 26, CEP 34) does not allow, and CEP 47's SHOULDs on timestamps. The record is published as
  the package says (verbatim, as conda-index does) and the warnings are reported: in
  `stockyard index --json`, in upload results, by `stockyard validate`; a channel whose policy
  says `strict = true` refuses such uploads.

The rules for each known key are what conda and rattler read (conda's `PackageRecord`, rattler's
`PackageRecord`/`IndexJson` serde); rattler's own `IndexJson` parser then reads every record as a
last guard, so whatever is admitted parses in rattler. The limits are documented in
docs/specs/repodata.md ("Admission").
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec
import rattler
from rattler.exceptions import InvalidVersionError

from stockyard.types import identifiers as ids
from stockyard.types.encoding import MAX_NESTING, encode_json
from stockyard.types.errors import InvalidIdentifier
from stockyard.types.problems import Problem
from stockyard.types.records import IndexJson, PackageRecord, ShardRecord
from stockyard.types.typecheck import check, join, show

#: A record encoded as JSON may be at most this large. The largest real records (metapackages
#: such as `anaconda`, with about a thousand depends) are under 64 KiB.
MAX_RECORD_BYTES: Final = 1 << 20
#: Keys neither the strict model nor rattler knows (`date`, `binstar`, `app_entry`...) may take
#: this many bytes together, encoded as JSON; real ones take a few hundred.
MAX_UNKNOWN_BYTES: Final = 64 << 10
#: Entries of `depends`, `constrains`, each `extra_depends` group, `track_features`.
MAX_SPECS: Final = 4096

Kind = Literal["index_json", "record", "shard_record"]
_MODELS: Final[dict[Kind, type[msgspec.Struct]]] = {
    "index_json": IndexJson,
    "record": PackageRecord,
    "shard_record": ShardRecord,
}
_U64: Final = 1 << 64
_I64: Final = 1 << 63
#: conda's and rattler's cut between seconds and milliseconds (9999-12-31 in seconds).
MAX_SECONDS: Final = 253_402_300_799
#: The milliseconds rattler can represent (jiff's range); others fail its whole repodata.
_MIN_MS: Final = -377_705_023_201_000
_MAX_MS: Final = 253_402_207_200_000
_HEX_RE: Final = re.compile(r"[0-9a-fA-F]*")
#: conda-build's license families (conda-build/license_family.py), compared case-insensitively.
LICENSE_FAMILIES: Final = frozenset(
    [
        "AGPL",
        "LGPL",
        "GPL3",
        "GPL2",
        "GPL",
        "BSD",
        "MIT",
        "APACHE",
        "PSF",
        "CC",
        "MOZILLA",
        "PUBLIC-DOMAIN",
        "PROPRIETARY",
        "OTHER",
        "NONE",
    ]
)
#: What conda and rattler cannot do without (the identity, and rattler needs `build_number`).
_REQUIRED: Final = ("name", "version", "build", "build_number")
_RUN_EXPORTS_KEYS: Final = ("weak", "strong", "weak_constrains", "strong_constrains", "noarch")


@dataclass(slots=True)
class Verdict:
    """What admission found in one record: `errors` refuse it, `warnings` are published."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, pointer: str, message: str) -> None:
        self.errors.append(Problem(pointer, message, "error"))

    def warn(self, pointer: str, message: str) -> None:
        self.warnings.append(Problem(pointer, message, "warning"))

    def covers(self, pointer: str) -> bool:
        """Whether an error or warning was already given at `pointer` or above it."""
        return any(
            pointer == p.pointer or pointer.startswith(p.pointer + "/") or not p.pointer
            for p in (*self.errors, *self.warnings)
        )


def describe(problems: list[Problem]) -> str:
    """`/a: message; /b: message`, for one-line errors."""
    return "; ".join(f"{p.pointer or '(root)'}: {p.message}" for p in problems)


def examine(
    data: Any,
    *,
    kind: Kind = "record",
    expected: ids.ArtifactName | None = None,
    now_ms: int | None = None,
) -> Verdict:
    """Every error and warning of one record (see the module docstring).

    `expected` is the name, version and build the artifact's filename says; `now_ms` the time
    that counts as now for CEP 47 (default: the system clock).
    """
    verdict = Verdict()
    if not isinstance(data, dict):
        verdict.error("", f"a record is a JSON object, got {show(data)}")
        return verdict
    encoded = encode_json(data)
    _identity(data, expected, verdict)
    for key, value in data.items():
        rule = _RULES.get(key)
        if rule is not None:
            rule(value, "/" + key, verdict)  # known keys need no escaping
    _extras(data, len(encoded), verdict)
    _timestamps(data, now_ms if now_ms is not None else time.time_ns() // 1_000_000, verdict)
    if kind == "index_json" and "subdir" not in data:
        verdict.warn(
            "/subdir",
            "index.json has no subdir (older conda-build); it is published with the subdir the "
            "artifact is in, as conda-index does",
        )
    if not verdict.errors:
        _rattler_reads(encoded, verdict)
    for problem in check(data, _MODELS[kind]):
        if not verdict.covers(problem.pointer):
            verdict.warn(problem.pointer, problem.message)
    return verdict


# --- identity ------------------------------------------------------------------------------------


def _identity(data: dict[str, Any], expected: ids.ArtifactName | None, verdict: Verdict) -> None:
    checks: tuple[tuple[str, Callable[[object], str]], ...] = (
        ("name", ids.check_package_name),
        ("version", ids.check_artifact_version),
        ("build", ids.check_build_string),
    )
    missing = [repr(key) for key in _REQUIRED if key not in data]
    if missing:
        keys = "key" if len(missing) == 1 else "keys"
        verdict.error("", f"missing required {keys} {', '.join(missing)}")
    for key, check_value in checks:
        if key not in data:
            continue
        try:
            check_value(data[key])
        except InvalidIdentifier as exc:
            verdict.error(join("", key), exc.message)
            continue
        if expected is not None and data[key] != getattr(expected, key):
            verdict.error(
                join("", key),
                f"{key} {data[key]!r} does not match the filename, which says "
                f"{getattr(expected, key)!r}",
            )
    version = data.get("version")
    if isinstance(version, str) and not verdict.covers("/version"):
        _version(version, verdict)


def _version(version: str, verdict: Verdict) -> None:
    try:
        rattler.Version(version)
    except InvalidVersionError as exc:
        verdict.error("/version", f"clients cannot parse version {version!r}: {exc}")
        return
    if version != version.lower():
        verdict.warn(
            "/version",
            f"version {version!r} has upper-case letters; CEP 26 allows lower case only "
            "(conda and rattler compare versions case-insensitively)",
        )


# --- known keys: what conda and rattler parse ---------------------------------------------------


def _uint(value: Any, pointer: str, verdict: Verdict) -> None:
    if type(value) is not int or not 0 <= value < _U64:
        verdict.error(pointer, f"expected an integer from 0 to 2^64-1, got {show(value)}")


def _optional_uint(value: Any, pointer: str, verdict: Verdict) -> None:
    if value is not None:
        _uint(value, pointer, verdict)


def _optional_str(value: Any, pointer: str, verdict: Verdict) -> None:
    if value is not None and not isinstance(value, str):
        verdict.error(pointer, f"expected a string or null, got {show(value)}")


def _str_list(value: Any, pointer: str, verdict: Verdict) -> bool:
    if not isinstance(value, list):
        verdict.error(pointer, f"expected a list of strings, got {show(value)}")
        return False
    if len(value) > MAX_SPECS:
        verdict.error(pointer, f"{len(value)} entries; the limit is {MAX_SPECS}")
        return False
    for index, item in enumerate(value):
        if not isinstance(item, str):
            verdict.error(join(pointer, index), f"expected a string, got {show(item)}")
            return False
    return True


def _specs(value: Any, pointer: str, verdict: Verdict) -> None:
    _str_list(value, pointer, verdict)


def _optional_specs(value: Any, pointer: str, verdict: Verdict) -> None:
    if value is not None:
        _str_list(value, pointer, verdict)


def _subdir(value: Any, pointer: str, verdict: Verdict) -> None:
    # It names a directory: never anything but a CEP 26 subdir (no "linux-64\n").
    try:
        ids.check_subdir(value)
    except InvalidIdentifier as exc:
        verdict.error(pointer, exc.message)


def _noarch(value: Any, pointer: str, verdict: Verdict) -> None:
    if value is None or value in ("generic", "python"):
        return
    if value is True:
        verdict.warn(
            pointer,
            "noarch is the boolean true (older conda-build); conda and rattler read it as "
            "'generic', CEP 34 says 'generic'",
        )
    elif value is False:
        verdict.warn(pointer, "noarch is false (not noarch); CEP 34 leaves the key out")
    else:
        verdict.error(
            pointer,
            f"expected 'generic', 'python', a boolean or null, got {show(value)} "
            "(rattler cannot read it)",
        )


def _track_features(value: Any, pointer: str, verdict: Verdict) -> None:
    if isinstance(value, str):
        return
    if isinstance(value, list) and _str_list(value, pointer, verdict):
        verdict.warn(
            pointer,
            "track_features is a list; CEP 34 says a space-separated string (conda and "
            "rattler read both)",
        )
    elif not isinstance(value, list):
        verdict.error(pointer, f"expected a string or a list of strings, got {show(value)}")


def _features(value: Any, pointer: str, verdict: Verdict) -> None:
    if value is not None and not isinstance(value, str):
        verdict.error(
            pointer,
            f"expected a space-separated string, got {show(value)} (rattler cannot read it)",
        )


def _license_family(value: Any, pointer: str, verdict: Verdict) -> None:
    _optional_str(value, pointer, verdict)
    if isinstance(value, str) and value.upper() not in LICENSE_FAMILIES:
        verdict.warn(
            pointer,
            f"license_family {value!r} is not one of conda-build's "
            f"({', '.join(sorted(LICENSE_FAMILIES))})",
        )


def _timestamp(value: Any, pointer: str, verdict: Verdict) -> None:
    if value is None:
        return
    if type(value) is not int:
        verdict.error(pointer, f"expected an integer (milliseconds), got {show(value)}")
    elif not _MIN_MS <= timestamp_ms(value) <= _MAX_MS:
        verdict.error(pointer, f"{value} is out of the range clients read (years -9999 to 9999)")


def _hex(length: int) -> Callable[[Any, str, Verdict], None]:
    def rule(value: Any, pointer: str, verdict: Verdict) -> None:
        if value is None or (isinstance(value, bytes) and len(value) == length // 2):
            return  # bytes: the shard form
        if not (isinstance(value, str) and len(value) == length and _HEX_RE.fullmatch(value)):
            verdict.error(pointer, f"expected {length} hexadecimal digits, got {show(value)}")

    return rule


def _run_exports(value: Any, pointer: str, verdict: Verdict) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        verdict.error(pointer, f"expected an object of spec lists, got {show(value)}")
        return
    for key in _RUN_EXPORTS_KEYS:
        if key in value:
            _str_list(value[key], join(pointer, key), verdict)


def _extra_depends(value: Any, pointer: str, verdict: Verdict) -> None:
    if not isinstance(value, dict):
        verdict.error(pointer, f"expected an object of spec lists, got {show(value)}")
        return
    for group, specs in value.items():
        _str_list(specs, join(pointer, group), verdict)


def _purls(value: Any, pointer: str, verdict: Verdict) -> None:
    if value is not None and _str_list(value, pointer, verdict):
        for index, purl in enumerate(value):
            if not purl.startswith("pkg:"):
                verdict.error(join(pointer, index), f"{purl[:80]!r} is not a package URL")


def _flags(value: Any, pointer: str, verdict: Verdict) -> None:
    _str_list(value, pointer, verdict)


_SCALARS: Final = frozenset({str, bool, float, type(None)})
_Rule = Callable[[Any, str, Verdict], None]
#: The known keys (the strict model's and the ones rattler also reads) and what clients parse.
_RULES: Final[dict[str, _Rule]] = {
    "build_number": _uint,
    "depends": _specs,
    "constrains": _specs,
    "subdir": _subdir,
    "noarch": _noarch,
    "timestamp": _timestamp,
    "track_features": _track_features,
    "features": _features,
    "license": _optional_str,
    "license_family": _license_family,
    "arch": _optional_str,
    "platform": _optional_str,
    "python_site_packages_path": _optional_str,
    "md5": _hex(32),
    "sha256": _hex(64),
    "size": _optional_uint,
    "indexed_timestamp": _timestamp,
    "legacy_bz2_md5": _hex(32),
    "legacy_bz2_size": _optional_uint,
    "run_exports": _run_exports,
    "extra_depends": _extra_depends,
    "purls": _purls,
    "flags": _flags,
    "attestations_sha256": _hex(64),
    "repodata_revision": _optional_uint,
}
#: Keys whose values the rules check completely (no walk for nesting and integers needed);
#: `run_exports` may hold keys no rule knows.
_SHAPED: Final = frozenset(_RULES) - {"run_exports"}
KNOWN_KEYS: Final = (
    frozenset(_RULES)
    | {"name", "version", "build"}
    | frozenset(f.encode_name for f in msgspec.structs.fields(PackageRecord))
)


# --- the record as a whole ------------------------------------------------------------------------


def _extras(data: dict[str, Any], size: int, verdict: Verdict) -> None:
    """Bounds and encodability: the whole record, unknown keys, nesting and integers."""
    if size > MAX_RECORD_BYTES:
        verdict.error("", f"the record is {size} bytes as JSON; the limit is {MAX_RECORD_BYTES}")
        return
    unknown = 0
    for key, value in data.items():
        if key not in KNOWN_KEYS:
            unknown += len(key) + len(encode_json(value))
        if type(value) in _SCALARS or key in _SHAPED:
            continue
        problem = _unencodable(value)
        if problem is not None:
            verdict.error(join("", key), problem)
    if unknown > MAX_UNKNOWN_BYTES:
        verdict.error(
            "",
            f"keys unknown to conda and rattler take {unknown} bytes as JSON; the limit is "
            f"{MAX_UNKNOWN_BYTES}",
        )


def _unencodable(value: Any) -> str | None:
    """Why `value` cannot go into a shard (msgpack) or a client's parser, or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if type(item) is int and not -_I64 <= item < _U64:
                return f"the integer {item} does not fit in 64 bits (msgpack, rattler)"
            continue
        if depth > MAX_NESTING:
            return f"nested more than {MAX_NESTING} levels deep"
        stack.extend((child, depth + 1) for child in children)
    return None


def timestamp_ms(value: int) -> int:
    """A record timestamp in milliseconds: values up to `MAX_SECONDS` are seconds (conda,
    rattler)."""
    return value * 1000 if value <= MAX_SECONDS else value


def _timestamps(data: Mapping[str, Any], now_ms: int, verdict: Verdict) -> None:
    """CEP 34 says milliseconds; CEP 47: a build is not later than its indexing, nor than now."""
    stamp = data.get("timestamp")
    if type(stamp) is not int or verdict.covers("/timestamp") or stamp <= 0:
        return
    if stamp <= MAX_SECONDS:
        verdict.warn(
            "/timestamp",
            f"timestamp {stamp} looks like seconds; CEP 34 says milliseconds (clients read "
            "values up to 253402300799 as seconds)",
        )
    ms = timestamp_ms(stamp)
    indexed = data.get("indexed_timestamp")
    if ms > now_ms:
        verdict.warn("/timestamp", f"timestamp {stamp} is in the future (CEP 47)")
    elif type(indexed) is int and 0 < indexed < ms and not verdict.covers("/indexed_timestamp"):
        verdict.warn(
            "/timestamp",
            f"timestamp {stamp} is later than indexed_timestamp {indexed}: the artifact was "
            "built after it was indexed (CEP 47)",
        )


def _rattler_reads(encoded: bytes, verdict: Verdict) -> None:
    """The last guard: rattler's own parser reads the record (unknown keys ignored)."""
    try:
        rattler.IndexJson.from_str(encoded.decode())
    except Exception as exc:  # any refusal of rattler's, whatever its exception type
        verdict.error("", f"rattler cannot read the record: {exc}")
