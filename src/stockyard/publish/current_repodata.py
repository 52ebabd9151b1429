"""Choose the records of `current_repodata.json`: the newest of everything, plus what it needs.

Follows conda-index (`conda_index/index/current_repodata.py`, `build_current_repodata`), which
builds conda `Resolve` objects; here the same rules run on plain record dicts, with py-rattler
for version order and match specs:

1. Records are read the way conda's `SubdirData` reads repodata: a `.tar.bz2` whose `.conda`
   twin is present is left out, so only the `.conda` of a twin pair can be selected.
2. Per package name, records are ordered as conda's `Resolve.version_key` orders a single
   channel: version, build number, timestamp, build string (newest first).
3. For every name, the newest version is kept with all records matching `name=<version>`
   (conda's fuzzy `=`, i.e. `<version>.*`: every build of that version and of versions that
   order equal to it, such as `1.0` and `1.0.0`).
   For a pinned name, each pin value `p` adds the newest version matching `name=p`, again with
   every record matching `name=<that version>`; a pin that matches nothing is ignored
   (conda-index raises IndexError there).
4. Every depends spec of a kept record that no kept record satisfies is backfilled: the newest
   record in the channel matching the spec gives a version, and all records of that version
   (`name=<version>`) are kept. Specs satisfied by nothing in the channel add nothing.
5. For every kept name with a `features` / `track_features` record, the newest record without
   features whose version is not above the newest kept version is kept as well.

conda-index runs steps 4 and 5 once each; here they repeat until nothing changes, so the
dependencies of backfilled records are backfilled too and the selection is closed: every depends
spec of a kept record that the channel can satisfy is satisfied within the selection. Within one
round, specs are checked against the selection as it was at the start of the round, as conda-index
does, so the result does not depend on the order of records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rattler import BuildString, MatchSpec, PackageRecord, Version, VersionSpec
from rattler.exceptions import (
    InvalidMatchSpecError,
    InvalidVersionError,
    InvalidVersionSpecError,
)

from stockyard.types.errors import ConfigError

_TAR_BZ2 = ".tar.bz2"
_CONDA = ".conda"
_LOWEST = Version("0")


def _has_features(record: Mapping[str, Any]) -> bool:
    for key in ("track_features", "features"):
        value = record.get(key)
        if isinstance(value, str):
            if value.strip():
                return True
        elif value:
            return True
    return False


def _split_features(value: Any) -> list[str] | None:
    if isinstance(value, str):
        parts = value.replace(",", " ").split()
        return parts or None
    if isinstance(value, list):
        return [str(item) for item in value] or None
    return None


class _Spec:
    """One parsed depends spec: its package name and how to test a record against it."""

    __slots__ = ("matchspec", "name", "version", "version_only")

    def __init__(self, text: str, matchspec: MatchSpec) -> None:
        self.matchspec = matchspec
        self.name = matchspec.name.normalized
        self.version = None if matchspec.version is None else VersionSpec(matchspec.version)
        # Most specs constrain the version only; those are tested on cached Version objects
        # instead of building a rattler PackageRecord for every candidate.
        self.version_only = (
            "[" not in text
            and matchspec.build is None
            and matchspec.build_number is None
            and matchspec.channel is None
            and matchspec.subdir is None
            and matchspec.md5 is None
            and matchspec.sha256 is None
            and matchspec.file_name is None
        )


class _Channel:
    """The records of one subdir, grouped by name, with parsed versions and specs cached."""

    def __init__(self, packages: Mapping[str, dict[str, Any]]) -> None:
        self.packages = packages
        self.versions: dict[str, Version | None] = {}
        self.specs: dict[str, _Spec | None] = {}
        self.rattler_records: dict[str, PackageRecord | None] = {}
        self.version_specs: dict[str, VersionSpec] = {}
        groups: dict[str, list[str]] = {}
        for filename, record in packages.items():
            if filename.endswith(_TAR_BZ2) and filename[: -len(_TAR_BZ2)] + _CONDA in packages:
                continue
            name = record.get("name")
            if isinstance(name, str):
                groups.setdefault(name, []).append(filename)
        for filenames in groups.values():
            filenames.sort(key=self.order_key, reverse=True)
        self.groups = groups

    def _text(self, filename: str) -> Any:
        return self.packages[filename].get("version")

    def version(self, filename: str) -> Version | None:
        text = self.packages[filename].get("version")
        if not isinstance(text, str):
            return None
        if text not in self.versions:
            try:
                self.versions[text] = Version(text)
            except InvalidVersionError:
                self.versions[text] = None
        return self.versions[text]

    def order_key(self, filename: str) -> tuple[Any, ...]:
        record = self.packages[filename]
        version = self.version(filename)
        build_number = record.get("build_number")
        timestamp = record.get("timestamp")
        return (
            version is not None,
            version or _LOWEST,
            build_number if isinstance(build_number, int) else 0,
            timestamp if isinstance(timestamp, (int, float)) else 0,
            str(record.get("build", "")),
            filename,
        )

    def spec(self, text: str) -> _Spec | None:
        if text not in self.specs:
            try:
                self.specs[text] = _Spec(text, MatchSpec(text))
            except (InvalidMatchSpecError, ValueError, TypeError):
                self.specs[text] = None
        return self.specs[text]

    def _rattler_record(self, filename: str) -> PackageRecord | None:
        if filename not in self.rattler_records:
            record = self.packages[filename]
            try:
                self.rattler_records[filename] = PackageRecord(
                    name=record["name"],
                    version=record["version"],
                    build=BuildString(record.get("build", "")),
                    build_number=int(record.get("build_number", 0)),
                    subdir=record.get("subdir") or "noarch",
                    noarch=record.get("noarch"),
                    depends=list(record.get("depends") or ()),
                    constrains=list(record.get("constrains") or ()),
                    md5=_hex_bytes(record.get("md5")),
                    sha256=_hex_bytes(record.get("sha256")),
                    size=record.get("size"),
                    features=_split_features(record.get("features")),
                    license=record.get("license"),
                    license_family=record.get("license_family"),
                )
            except Exception:
                # A record rattler cannot model (malformed legacy metadata) matches no spec
                # that needs more than its version.
                self.rattler_records[filename] = None
        return self.rattler_records[filename]

    def matches(self, spec: _Spec, filename: str) -> bool:
        if spec.version_only:
            constraint = spec.version
            if constraint is None:
                return True
            version = self.version(filename)
            return version is not None and constraint.matches(version)
        record = self._rattler_record(filename)
        return record is not None and spec.matchspec.matches(record)

    def same_version(self, name: str, version: str) -> list[str]:
        """Every record of `name` matching conda's fuzzy `name=<version>`."""
        constraint = self.version_specs.get(version)
        if constraint is None:
            try:
                constraint = _fuzzy(name, version)
            except (InvalidMatchSpecError, InvalidVersionSpecError):
                constraint = None
            if constraint is None:
                # A version string no spec can express: fall back to the exact string.
                return [fn for fn in self.groups.get(name, ()) if self._text(fn) == version]
            self.version_specs[version] = constraint
        found = []
        for filename in self.groups.get(name, ()):
            candidate = self.version(filename)
            if candidate is not None and constraint.matches(candidate):
                found.append(filename)
        return found


def _fuzzy(name: str, version: str) -> VersionSpec:
    """The version constraint of conda's `name=<version>` (`1.0` -> `1.0.*`)."""
    text = MatchSpec(f"{name}={version}").version
    return VersionSpec(text if text is not None else "*")


def _hex_bytes(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _newest_with_versions(channel: _Channel, name: str, pins: Iterable[str]) -> set[str]:
    group = channel.groups[name]
    newest = channel.packages[group[0]].get("version")
    keep = set(channel.same_version(name, newest)) if isinstance(newest, str) else {group[0]}
    for pin in pins:
        try:
            constraint = _fuzzy(name, pin)
        except (InvalidMatchSpecError, InvalidVersionSpecError) as exc:
            raise ConfigError(
                f"current_repodata pin {name}={pin} is not a valid match spec: {exc}",
                hint="Pins list versions to keep per package name, e.g. python: ['3.11', '3.12'].",
            ) from exc
        for filename in group:
            version = channel.version(filename)
            if version is not None and constraint.matches(version):
                keep.update(channel.same_version(name, channel.packages[filename]["version"]))
                break
    return keep


def _backfill_dependencies(
    channel: _Channel,
    kept: set[str],
    by_name: dict[str, list[str]],
    new: Iterable[str],
    seen: set[str],
) -> set[str]:
    """One round of step 4 for the records in `new`; returns filenames to add.

    `seen` holds specs checked in earlier rounds: the selection only grows, so a spec satisfied
    then is still satisfied, and one the channel cannot satisfy never will be.
    """
    additions: set[str] = set()
    for filename in new:
        for text in channel.packages[filename].get("depends") or ():
            if not isinstance(text, str) or text in seen:
                continue
            seen.add(text)
            spec = channel.spec(text)
            if spec is None or spec.name not in channel.groups:
                continue
            if any(channel.matches(spec, kept_name) for kept_name in by_name.get(spec.name, ())):
                continue
            for candidate in channel.groups[spec.name]:
                if channel.matches(spec, candidate):
                    version = channel.packages[candidate]["version"]
                    additions.update(channel.same_version(spec.name, version))
                    break
    return additions - kept


def _previous_without_features(
    channel: _Channel, by_name: dict[str, list[str]], names: Iterable[str]
) -> set[str]:
    """Step 5 for the given names; returns filenames to add."""
    additions: set[str] = set()
    for name in names:
        kept_names = by_name.get(name, ())
        if not any(_has_features(channel.packages[filename]) for filename in kept_names):
            continue
        newest_kept = max(kept_names, key=channel.order_key)
        ceiling = channel.version(newest_kept)
        for candidate in channel.groups[name]:
            version = channel.version(candidate)
            if _has_features(channel.packages[candidate]):
                continue
            if ceiling is None or (version is not None and version <= ceiling):
                additions.add(candidate)
                break
    return additions


def select_current_records(
    packages: Mapping[str, dict[str, Any]], *, pins: Mapping[str, Sequence[str]] | None = None
) -> set[str]:
    """Filenames (of `.tar.bz2` and `.conda` records alike) that `current_repodata.json` keeps.

    `packages` maps filename -> record for one subdir (both `packages` and `packages.conda`).
    `pins` maps a package name to versions to keep besides the newest (e.g. python: 3.11, 3.12).
    Raises ConfigError for a pin that is not a valid version spec.
    """
    channel = _Channel(packages)
    pins = pins or {}
    kept: set[str] = set()
    for name in channel.groups:
        kept |= _newest_with_versions(channel, name, pins.get(name, ()))

    by_name: dict[str, list[str]] = {}

    def admit(filenames: Iterable[str]) -> None:
        for filename in filenames:
            kept.add(filename)
            by_name.setdefault(packages[filename]["name"], []).append(filename)

    admit(list(kept))
    pending = set(kept)
    feature_names = set(by_name)
    seen: set[str] = set()
    while pending or feature_names:
        while pending:
            additions = _backfill_dependencies(channel, kept, by_name, pending, seen)
            admit(additions)
            feature_names |= {packages[filename]["name"] for filename in additions}
            pending = additions
        additions = _previous_without_features(channel, by_name, feature_names) - kept
        feature_names = set()
        admit(additions)
        pending = additions
    return kept


def build_current_repodata(
    repodata: Mapping[str, Any], *, pins: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """The whole `current_repodata.json` document for a patched `repodata.json` document.

    Keys other than the packages maps are kept. Like conda-index, a kept `.conda` record gets
    `legacy_bz2_md5` from its `.tar.bz2` twin (conda-index writes `null` when there is no twin;
    we leave the key out then).
    """
    legacy: Mapping[str, dict[str, Any]] = repodata.get("packages") or {}
    modern: Mapping[str, dict[str, Any]] = repodata.get("packages.conda") or {}
    keep = select_current_records({**legacy, **modern}, pins=pins)
    document = {k: v for k, v in repodata.items() if k not in ("packages", "packages.conda")}
    document["packages"] = {fn: record for fn, record in legacy.items() if fn in keep}
    conda_records: dict[str, dict[str, Any]] = {}
    for filename, record in modern.items():
        if filename not in keep:
            continue
        twin = legacy.get(filename[: -len(_CONDA)] + _TAR_BZ2)
        if twin is not None and twin.get("md5") is not None:
            record = {**record, "legacy_bz2_md5": twin["md5"]}
        conda_records[filename] = record
    document["packages.conda"] = conda_records
    return document
