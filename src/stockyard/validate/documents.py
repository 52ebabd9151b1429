"""Per-kind checks of decoded documents: the Struct of each kind, then what a Struct cannot say.

The shape of every document comes from the Structs in `stockyard.types` (checked with
`typecheck.check`). The rules here are the ones that span fields or keys: a filename key agrees
with its record (CEP 26), `.tar.bz2` names live under `packages` and `.conda` names under
`packages.conda`, `repodata_version: 2` comes with `info.base_url` (CEP 15), `vN` revisions are
announced in `info.repodata_revisions` and counted right (CEP 48), a shard holds one package name
(CEP 16).

Package records (in repodata, shards, bare packages maps, and index.json) are judged by admission
(`stockyard.types.admission`), the rule every way into a channel applies: what clients cannot
parse is a problem, legacy shapes the strict model does not allow are warnings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from stockyard.types import identifiers as ids
from stockyard.types.admission import Kind, examine
from stockyard.types.channeldata import Channeldata
from stockyard.types.errors import InvalidIdentifier
from stockyard.types.package_files import AboutJson, LinkJson, PathsJson
from stockyard.types.patches import PatchInstructions
from stockyard.types.records import PackageRecord, RunExports
from stockyard.types.repodata import Repodata, RunExportsDocument, Shard, ShardIndex
from stockyard.types.typecheck import check, join, struct_field_types
from stockyard.validate.report import Problem

#: Keys the conda client adds to its cached copy of repodata.json (`_url`, `_etag`, ...). They
#: are not part of what a channel serves; accepted with a note.
CONDA_CACHE_KEYS: Final = ("_url", "_etag", "_mod", "_cache_control")

#: Which artifact format each packages map holds.
MAP_FORMATS: Final[dict[str, ids.ArtifactFormat]] = {
    "packages": "tar.bz2",
    "packages.conda": "conda",
}

# CEP 48: revision keys are `vN` with N >= 3.
_REVISION_KEY = re.compile(r"^v([3-9]|[1-9][0-9]+)$")
# 9999-12-31 in seconds: anything larger is milliseconds (conda-index uses the same cut).
_MAX_SECONDS: Final = 253402300799

_RECORD_FIELDS: Final = struct_field_types(PackageRecord)
_PACKAGES_MAP: Final = struct_field_types(Repodata)["packages"]
_SPEC_LIST: Final = struct_field_types(RunExports)["weak"]


def _keyed_entries(
    data: dict[str, Any], found: Findings
) -> Iterator[tuple[ids.ArtifactFormat, str, Any, str]]:
    """(format, filename, entry, pointer) of every entry under `packages` and `packages.conda`,
    counted in `found.records`."""
    for key, fmt in MAP_FORMATS.items():
        entries = data.get(key)
        if not isinstance(entries, dict):
            continue
        found.records += len(entries)
        for filename, entry in entries.items():
            yield fmt, filename, entry, join(join("", key), filename)


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    records: int = 0
    #: What counts as now for CEP 47's checks (milliseconds).
    now_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)

    def admit(self, record: Any, pointer: str, kind: Kind = "record") -> None:
        """Admission's errors and warnings of one record, under `pointer`."""
        verdict = examine(record, kind=kind, now_ms=self.now_ms)
        self.problems += [_under(pointer, p) for p in verdict.errors]
        self.warnings += [_under(pointer, p) for p in verdict.warnings]


def _under(pointer: str, problem: Problem) -> Problem:
    return Problem(pointer + problem.pointer, problem.message, problem.severity)


def _without_records(data: Any, keys: tuple[str, ...]) -> Any:
    """`data` with the record maps at `keys` emptied: their records are judged by admission,
    the rest of the document by its Struct."""
    if not isinstance(data, dict):
        return data
    return {k: {} if k in keys and isinstance(v, dict) else v for k, v in data.items()}


def check_document(data: Any, kind: str) -> Findings:
    """Every problem of a decoded document of `kind` (any kind but "artifact")."""
    try:
        checker = _CHECKERS[kind]
    except KeyError:
        raise ValueError(f"no document checker for kind {kind!r}") from None
    found = Findings()
    checker(data, found)
    return found


# --- repodata ----------------------------------------------------------------------------------


def _repodata(data: Any, found: Findings) -> None:
    envelope = _without_records(data, tuple(MAP_FORMATS))
    if isinstance(envelope, dict) and isinstance(envelope.get("v3"), dict):
        envelope["v3"] = _without_records(envelope["v3"], tuple(envelope["v3"]))
    found.problems += check(envelope, Repodata)
    if not isinstance(data, dict):
        return
    for key in CONDA_CACHE_KEYS:
        if key in data:
            found.notes.append(
                Problem(join("", key), "conda client cache key, not part of served repodata")
            )
    raw_info = data.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    subdir = _valid_subdir(info.get("subdir"))
    for fmt, filename, record, pointer in _keyed_entries(data, found):
        _record_identity(filename, record, pointer, fmt, subdir, found.problems)
        found.admit(record, pointer)
    _removed(data.get("removed"), found.problems)
    _repodata_version(data, info, found.problems)
    _revisions(data, info, subdir, found)


def _valid_subdir(subdir: Any) -> str | None:
    """info.subdir to compare records with; a bad one is reported once, not once per record."""
    try:
        return ids.check_subdir(subdir)
    except InvalidIdentifier:
        return None


def _packages_map(data: Any, found: Findings) -> None:
    """A bare `{filename: record}` map: the records of a repodata file without the envelope."""
    found.problems += check({} if isinstance(data, dict) else data, _PACKAGES_MAP)
    if isinstance(data, dict):
        found.records = len(data)
        for filename, record in data.items():
            _record_identity(filename, record, join("", filename), None, None, found.problems)
            found.admit(record, join("", filename))


def _record_identity(
    filename: Any,
    record: Any,
    pointer: str,
    expected_format: ids.ArtifactFormat | None,
    subdir: str | None,
    out: list[Problem],
) -> None:
    """The filename key parses (CEP 26), sits in the right map and agrees with its record.

    `pointer` points at the record (its key).
    """
    try:
        parsed = ids.parse_artifact_filename(filename)
    except InvalidIdentifier as exc:
        out.append(Problem(pointer, f"bad filename key: {exc.message}"))
        return
    if expected_format is not None and parsed.extension != expected_format:
        right = next(k for k, v in MAP_FORMATS.items() if v == parsed.extension)
        out.append(
            Problem(pointer, f"a .{parsed.extension} filename belongs under {right!r}, not here")
        )
    if not isinstance(record, dict):
        return
    for key in ("name", "version", "build"):
        value = record.get(key)
        expected = getattr(parsed, key)
        if isinstance(value, str) and value != expected:
            out.append(
                Problem(
                    join(pointer, key),
                    f"{key} {value!r} does not match the filename, which says {expected!r}",
                )
            )
    record_subdir = record.get("subdir")
    if subdir is not None and isinstance(record_subdir, str) and record_subdir != subdir:
        out.append(
            Problem(
                join(pointer, "subdir"),
                f"subdir {record_subdir!r} differs from info.subdir {subdir!r}",
            )
        )


def _removed(removed: Any, out: list[Problem]) -> None:
    if not isinstance(removed, list):
        return
    for index, filename in enumerate(removed):
        if not isinstance(filename, str):
            continue  # the Struct check reports the type
        try:
            ids.parse_artifact_filename(filename)
        except InvalidIdentifier as exc:
            out.append(Problem(join("/removed", index), f"bad filename: {exc.message}"))


def _repodata_version(data: dict[str, Any], info: dict[str, Any], out: list[Problem]) -> None:
    """CEP 15 puts `repodata_version` at the top; CEP 36 and 48 also name `info.repodata_version`.

    Both are accepted; they must agree, and version 2 needs `info.base_url`.
    """
    top = data.get("repodata_version")
    inner = info.get("repodata_version")  # its type is checked with the rest of RepodataInfo
    if isinstance(top, int) and isinstance(inner, int) and top != inner:
        out.append(
            Problem(
                "/info/repodata_version",
                f"info.repodata_version is {inner} but the top-level repodata_version is {top}",
            )
        )
    version = top if isinstance(top, int) else inner if isinstance(inner, int) else 1
    base_url = info.get("base_url")
    if version == 2 and not base_url:
        out.append(
            Problem(
                "/info" if "info" in data else "/repodata_version",
                "repodata_version 2 requires info.base_url (CEP 15)",
            )
        )
    if isinstance(base_url, str) and base_url:
        if version != 2:
            out.append(
                Problem(
                    "/info/base_url",
                    f"info.base_url needs repodata_version 2 (CEP 15); the document says {version}",
                )
            )
        if not base_url.endswith("/"):
            out.append(_needs_trailing_slash("/info/base_url", base_url))


def _needs_trailing_slash(pointer: str, url: str) -> Problem:
    return Problem(
        pointer, f"{url!r} must end with '/': filenames are appended to it (CEP 15, CEP 16)"
    )


def _revisions(
    data: dict[str, Any], info: dict[str, Any], subdir: str | None, found: Findings
) -> None:
    """CEP 48: `vN` top-level keys, announced in `info.repodata_revisions`."""
    revisions = info.get("repodata_revisions")
    revisions = revisions if isinstance(revisions, dict) else {}
    for key in revisions:
        if isinstance(key, str) and _REVISION_KEY.fullmatch(key) and key not in data:
            found.problems.append(
                Problem(
                    join("/info/repodata_revisions", key),
                    f"revision {key!r} is announced but the document has no top-level {key!r}",
                )
            )
    for key, value in data.items():
        if not (isinstance(key, str) and _REVISION_KEY.fullmatch(key)):
            continue
        if key not in revisions:
            found.problems.append(
                Problem(
                    join("", key),
                    f"{key!r} is not announced in info.repodata_revisions (CEP 48)",
                )
            )
        if isinstance(value, dict):
            _revision_records(key, value, revisions.get(key), subdir, found)


def _revision_records(
    key: str, groups: dict[Any, Any], meta: Any, subdir: str | None, found: Findings
) -> None:
    """Records of one revision: `{extension: {filename-without-extension: record}}`."""
    count = 0
    indexed: list[int] = []
    for extension, records in groups.items():
        if not isinstance(records, dict):
            continue
        count += len(records)
        for stem, record in records.items():
            if isinstance(record, dict) and type(record.get("indexed_timestamp")) is int:
                indexed.append(record["indexed_timestamp"])
            if extension in MAP_FORMATS.values() and isinstance(stem, str):
                # Keys of a revision are filenames without their extension.
                pointer = join(join(join("", key), extension), stem)
                filename = f"{stem}.{extension}"
                _record_identity(filename, record, pointer, None, subdir, found.problems)
            found.admit(record, join(join(join("", key), extension), stem))
    found.records += count
    if not isinstance(meta, dict):
        return
    pointer = join("/info/repodata_revisions", key)
    n_packages = meta.get("n_packages")
    if type(n_packages) is int and n_packages != count:
        found.problems.append(
            Problem(
                join(pointer, "n_packages"),
                f"n_packages is {n_packages} but {key!r} holds {count} records (CEP 48)",
            )
        )
    for bound, pick in (("newest", max), ("oldest", min)):
        value = meta.get(bound)
        if type(value) is int and indexed and value != pick(indexed):
            found.problems.append(
                Problem(
                    join(pointer, bound),
                    f"{bound} is {value} but the {bound} indexed_timestamp in {key!r} is "
                    f"{pick(indexed)} (CEP 48)",
                )
            )


# --- other documents -----------------------------------------------------------------------------


def _channeldata(data: Any, found: Findings) -> None:
    found.problems += check(data, Channeldata)
    if not isinstance(data, dict):
        return
    packages = data.get("packages")
    channel_subdirs = data.get("subdirs")
    known = set(channel_subdirs) if isinstance(channel_subdirs, list) else None
    if not isinstance(packages, dict):
        return
    found.records = len(packages)
    for name, entry in packages.items():
        pointer = join("/packages", name)
        try:
            ids.check_package_name(name)
        except InvalidIdentifier as exc:
            found.problems.append(Problem(pointer, f"invalid key: {exc.message}"))
        if not isinstance(entry, dict):
            continue
        subdirs = entry.get("subdirs")
        if known is not None and isinstance(subdirs, list):
            for index, subdir in enumerate(subdirs):
                if isinstance(subdir, str) and subdir not in known:
                    found.problems.append(
                        Problem(
                            join(join(pointer, "subdirs"), index),
                            f"subdir {subdir!r} is not in the channel's subdirs",
                        )
                    )
        timestamp = entry.get("timestamp")
        if type(timestamp) is int and timestamp > _MAX_SECONDS:
            found.problems.append(
                Problem(
                    join(pointer, "timestamp"),
                    f"timestamp {timestamp} looks like milliseconds; CEP 38 says seconds",
                )
            )


def _run_exports_document(data: Any, found: Findings) -> None:
    found.problems += check(data, RunExportsDocument)
    if not isinstance(data, dict):
        return
    for fmt, filename, _entry, pointer in _keyed_entries(data, found):
        _record_identity(filename, None, pointer, fmt, None, found.problems)


def _run_exports_json(data: Any, found: Findings) -> None:
    """`info/run_exports.json`: a list of specs (meaning `weak`) or the dictionary form."""
    found.records = 1
    if isinstance(data, list):
        found.problems += check(data, _SPEC_LIST)
        return
    found.problems += check(data, RunExports)
    if not isinstance(data, dict):
        return
    known = set(struct_field_types(RunExports))
    for key in data:
        if key not in known:
            found.notes.append(
                Problem(join("", key), f"unknown key; CEP 34 knows {', '.join(sorted(known))}")
            )


def _patch_instructions(data: Any, found: Findings) -> None:
    found.problems += check(data, PatchInstructions)
    if not isinstance(data, dict):
        return
    for fmt, filename, patch, pointer in _keyed_entries(data, found):
        _record_identity(filename, None, pointer, fmt, None, found.problems)
        if isinstance(patch, dict):
            _patch_values(patch, pointer, found.problems)
    for key in ("revoke", "remove"):
        names = data.get(key)
        if isinstance(names, list):
            for index, filename in enumerate(names):
                if isinstance(filename, str):
                    try:
                        ids.parse_artifact_filename(filename)
                    except InvalidIdentifier as exc:
                        found.problems.append(
                            Problem(join(join("", key), index), f"bad filename: {exc.message}")
                        )


def _patch_values(patch: dict[str, Any], pointer: str, out: list[Problem]) -> None:
    """Each patched key, when it is a record field, takes that field's type; `null` removes it."""
    for key, value in patch.items():
        if value is None or key not in _RECORD_FIELDS:
            continue
        out.extend(check(value, _RECORD_FIELDS[key], join(pointer, key)))


def _index_json(data: Any, found: Findings) -> None:
    found.records = 1
    found.admit(data, "", "index_json")


def _shard_index(data: Any, found: Findings) -> None:
    found.problems += check(data, ShardIndex)
    if not isinstance(data, dict):
        return
    info = data.get("info")
    if isinstance(info, dict):
        for key in ("base_url", "shards_base_url"):
            url = info.get(key)
            if isinstance(url, str) and not url.endswith("/"):
                found.problems.append(_needs_trailing_slash(join("/info", key), url))
    shards = data.get("shards")
    if isinstance(shards, dict):
        found.records = len(shards)
        for name in shards:
            try:
                ids.check_package_name(name)
            except InvalidIdentifier as exc:
                found.problems.append(Problem(join("/shards", name), f"invalid key: {exc.message}"))


def _shard(data: Any, found: Findings) -> None:
    found.problems += check(_without_records(data, tuple(MAP_FORMATS)), Shard)
    if not isinstance(data, dict):
        return
    names: set[str] = set()
    for fmt, filename, record, pointer in _keyed_entries(data, found):
        _record_identity(filename, record, pointer, fmt, None, found.problems)
        found.admit(record, pointer, "shard_record")
        if isinstance(record, dict) and isinstance(record.get("name"), str):
            names.add(record["name"])
    if len(names) > 1:
        found.problems.append(
            Problem(
                "", f"a shard holds one package name (CEP 16); found {', '.join(sorted(names))}"
            )
        )
    _removed(data.get("removed"), found.problems)


def _struct_only(struct: type) -> Callable[[Any, Findings], None]:
    def checker(data: Any, found: Findings) -> None:
        found.records = 1
        found.problems += check(data, struct)

    return checker


_CHECKERS: Final[dict[str, Callable[[Any, Findings], None]]] = {
    "repodata": _repodata,
    "packages": _packages_map,
    "channeldata": _channeldata,
    "run_exports": _run_exports_document,
    "run_exports_json": _run_exports_json,
    "patch_instructions": _patch_instructions,
    "index_json": _index_json,
    "about_json": _struct_only(AboutJson),
    "paths_json": _struct_only(PathsJson),
    "link_json": _struct_only(LinkJson),
    "shard_index": _shard_index,
    "shard": _shard,
}
