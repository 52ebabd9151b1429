"""A small upstream (records only) and an independent, naive model of the documented filter
semantics (docs/howto-mirror.md), to check the real selection against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rattler import BuildString, MatchSpec, PackageRecord, Version

from stockyard.mirror.filters import MirrorFilters
from stockyard.mirror.records import Candidate
from stockyard.types.licenses import normalize_license


def _ms(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


#: (subdir, name, version, license, (year, month) or None, depends)
ROWS: list[tuple[str, str, str, str | None, tuple[int, int] | None, list[str]]] = [
    ("linux-64", "lib", "1.0", "MIT", (2023, 1), []),
    ("linux-64", "lib", "1.2", "GPL-3.0-only", (2024, 6), ["zlib"]),
    ("linux-64", "lib", "2.0", "MIT", (2024, 9), ["zlib >=1.3", "__glibc >=2.17"]),
    ("linux-64", "zlib", "1.2", "Zlib", (2022, 3), []),
    ("linux-64", "zlib", "1.3", "Zlib", (2024, 1), []),
    ("linux-64", "native", "0.5", "MIT", (2024, 3), ["app", "lib <2"]),
    ("noarch", "app", "1.0", "MIT", (2023, 5), ["lib >=1.1", "tool"]),
    ("noarch", "app", "1.1", "Apache-2.0", (2024, 7), ["lib >=2", "tool >=2"]),
    ("noarch", "tool", "1.0", "BSD-2-Clause", (2022, 8), []),
    ("noarch", "tool", "2.0", "BSD 3-Clause", (2024, 2), ["missing-dep"]),
    ("noarch", "doc", "1", "Proprietary", None, []),
    ("osx-64", "lib", "2.0", "MIT", (2024, 9), ["zlib"]),
    ("osx-64", "zlib", "1.3", "Zlib", (2024, 1), []),
]


def record(
    subdir: str, name: str, version: str, license_text: str | None, when: Any, depends: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "version": version,
        "build": "0",
        "build_number": 0,
        "depends": depends,
        "subdir": subdir,
        "sha256": "0" * 64,
        "size": 10,
    }
    if license_text is not None:
        out["license"] = license_text
    if when is not None:
        out["timestamp"] = _ms(*when)
    return out


def candidates() -> list[Candidate]:
    return [Candidate(row[0], f"{row[1]}-{row[2]}-0.conda", record(*row)) for row in ROWS]


@dataclass(frozen=True)
class _Rec:
    subdir: str
    name: str
    version: Version
    license: str | None
    stamp: int | None
    depends: tuple[str, ...]
    key: str
    rattler: PackageRecord


def _model_records() -> list[_Rec]:
    out = []
    for subdir, name, version, lic, when, depends in ROWS:
        rattler = PackageRecord(
            name=name, version=version, build=BuildString("0"), build_number=0, subdir=subdir
        )
        stamp = _ms(*when) if when else None
        key = f"{subdir}/{name}-{version}-0.conda"
        out.append(_Rec(subdir, name, Version(version), lic, stamp, tuple(depends), key, rattler))
    return out


def _license_ok(filters: MirrorFilters, text: str | None) -> bool:
    policy = filters.licenses
    if not policy.active:
        return True
    expression = normalize_license(text)
    if expression is None:
        return policy.unknown == "allow"
    return policy.judge(text).accepted


def _newest(records: list[_Rec], count: int | None) -> list[_Rec]:
    if count is None:
        return records
    kept = []
    for r in records:
        versions = sorted(
            {o.version for o in records if (o.subdir, o.name) == (r.subdir, r.name)}, reverse=True
        )
        if r.version in versions[:count]:
            kept.append(r)
    return kept


def model_selection(filters: MirrorFilters) -> set[str]:
    """The documented precedence, written out naively."""

    def matches(spec: str, r: _Rec, globs: bool = True) -> bool:
        return bool(MatchSpec(spec, exact_names_only=not globs).matches(r.rattler))

    def in_window(r: _Rec) -> bool:
        if filters.newer_than is None and filters.older_than is None:
            return True
        if r.stamp is None:
            return False
        newer = filters.newer_than is None or r.stamp >= filters.newer_than.timestamp() * 1000
        older = filters.older_than is None or r.stamp < filters.older_than.timestamp() * 1000
        return newer and older

    pool = [
        r
        for r in _model_records()
        if (not filters.subdirs or r.subdir in filters.subdirs)
        and not any(matches(s, r) for s in filters.exclude)
        and in_window(r)
        and _license_ok(filters, r.license)
    ]
    if filters.include:
        roots = [
            r
            for spec in filters.include
            for r in _newest([p for p in pool if matches(spec, p)], filters.latest)
        ]
    else:
        roots = _newest(pool, filters.latest)
    chosen = {r.key: r for r in roots}
    work = list(roots)
    while filters.with_dependencies and work:
        current = work.pop()
        for dep in current.depends:
            if dep.startswith("__"):
                continue
            reach = None if current.subdir == "noarch" else {current.subdir, "noarch"}
            found = [
                p for p in pool if (reach is None or p.subdir in reach) and matches(dep, p, False)
            ]
            for r in _newest(found, filters.latest):
                if r.key not in chosen:
                    chosen[r.key] = r
                    work.append(r)
    return set(chosen)
