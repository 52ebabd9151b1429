"""Upstream records as the filters see them: one `Candidate` per artifact, with the rattler
`PackageRecord` that MatchSpecs are matched against built only when a spec needs it (rattler
itself is imported only then: a mirror run that finds nothing changed never needs it)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rattler import PackageRecord, Version

#: Timestamps below this are in seconds (legacy records), above in milliseconds.
_SECONDS_LIMIT = 100_000_000_000


@dataclass(eq=False)
class Candidate:
    """One upstream artifact: where it lives and its (patched, unless --unpatched) record.
    Compared by identity: one object per upstream artifact."""

    subdir: str
    filename: str
    record: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"

    @property
    def name(self) -> str:
        name = self.record.get("name")
        return name.lower() if isinstance(name, str) else ""

    @property
    def size(self) -> int:
        size = self.record.get("size")
        return size if isinstance(size, int) else 0

    @property
    def timestamp_ms(self) -> int | None:
        """The build time in milliseconds (legacy records give seconds), or None."""
        stamp = self.record.get("timestamp")
        if not isinstance(stamp, int | float) or isinstance(stamp, bool) or stamp <= 0:
            return None
        return int(stamp * 1000 if stamp < _SECONDS_LIMIT else stamp)

    @cached_property
    def version(self) -> Version | None:
        """The parsed version (None when rattler cannot parse it: such records sort last)."""
        from rattler import Version

        try:
            return Version(str(self.record.get("version", "")))
        except Exception:  # rattler raises its own exception types
            return None

    @cached_property
    def rattler(self) -> PackageRecord | None:
        """The record as py-rattler's PackageRecord (None when it cannot be built: then no
        MatchSpec matches it)."""
        return _to_rattler(self.record, self.subdir)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _hash_bytes(value: Any) -> bytes | None:
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None
    return None


def _to_rattler(record: dict[str, Any], subdir: str) -> PackageRecord | None:
    """The fields a MatchSpec can test (name, version, build, build number, subdir, hashes,
    license, track features); everything else does not take part in matching."""
    from rattler import BuildString, PackageRecord

    try:
        build_number = record.get("build_number", 0)
        return PackageRecord(
            name=str(record["name"]),
            version=str(record["version"]),
            build=BuildString(str(record["build"])),
            build_number=build_number if isinstance(build_number, int) else 0,
            subdir=str(record.get("subdir") or subdir),
            depends=_strings(record.get("depends")),
            constrains=_strings(record.get("constrains")),
            sha256=_hash_bytes(record.get("sha256")),
            md5=_hash_bytes(record.get("md5")),
            size=record.get("size") if isinstance(record.get("size"), int) else None,
            license=record.get("license") if isinstance(record.get("license"), str) else None,
            features=_strings(record.get("features")) or None,
        )
    except Exception:  # rattler raises its own exception types for versions, names, builds
        return None
