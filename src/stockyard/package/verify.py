"""Verify an artifact end to end: readable metadata, every member decompresses, the payload
matches `info/paths.json`, and (optionally) the file has the expected sha256."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from stockyard.package._problems import ArchiveProblem, io_error
from stockyard.package.limits import DEFAULT_LIMITS, Limits
from stockyard.package.members import iter_members
from stockyard.package.metadata import PATHS_JSON, parse_paths_json
from stockyard.package.read import read_artifact
from stockyard.package.streams import file_chunks
from stockyard.package.tar_format import normalize_member_path
from stockyard.types.errors import HashMismatch, InvalidArtifact
from stockyard.types.identifiers import ArtifactFormat, artifact_format, check_sha256


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What `verify_artifact` checked and found. `ok` when `problems` is empty."""

    path: str
    format: str
    size: int
    md5: str
    sha256: str
    #: Tar members read (info and payload).
    members: int
    #: paths.json entries whose size and sha256 were compared with the payload.
    files_checked: int
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def _hash_file(path: str) -> tuple[int, str, str]:
    sha256 = hashlib.sha256()
    md5 = hashlib.md5()
    size = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        for chunk in file_chunks(fd):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return size, md5.hexdigest(), sha256.hexdigest()


def verify_artifact(
    path: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    filename: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> VerifyReport:
    """Check `path` end to end and report the problems found.

    Raises `HashMismatch` when `sha256` is given and differs; every other problem (corrupt data,
    inconsistent metadata, payload not matching paths.json) is listed in the report.
    """
    display = os.fspath(path)
    name = filename if filename is not None else os.path.basename(display)
    fmt = artifact_format(name)
    if fmt is None:
        raise InvalidArtifact(display, "not a .conda or .tar.bz2 filename")
    try:
        size, md5, actual = _hash_file(display)
    except OSError as exc:
        raise io_error(display, "read the file", exc) from None
    if sha256 is not None and check_sha256(sha256) != actual:
        raise HashMismatch(f"{display}: sha256 is {actual}, expected {sha256.lower()}")
    problems: list[str] = []
    try:
        read_artifact(display, filename=name, limits=limits)
    except InvalidArtifact as exc:
        problems.append(exc.reason)
    members, checked = _check_payload(display, size, fmt, limits, problems)
    return VerifyReport(
        path=display,
        format=fmt,
        size=size,
        md5=md5,
        sha256=actual,
        members=members,
        files_checked=checked,
        problems=tuple(problems),
    )


def _check_payload(
    path: str, size: int, fmt: ArtifactFormat, limits: Limits, problems: list[str]
) -> tuple[int, int]:
    """Decompress every member; compare the payload with paths.json. Returns (members, checked)."""
    payload: dict[str, tuple[int, str]] = {}
    links: set[str] = set()
    paths_json: bytes | None = None
    count = 0
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            for _section, member, reader in iter_members(fd, size, fmt, limits, drain=True):
                count += 1
                if member.kind == "file":
                    digest = hashlib.sha256()
                    data = bytearray() if member.path == PATHS_JSON else None
                    for chunk in reader.iter_data():
                        digest.update(chunk)
                        if data is not None:
                            data += chunk
                    if data is not None:
                        paths_json = bytes(data)
                    payload[member.path] = (member.size, digest.hexdigest())
                elif member.kind == "hardlink":
                    source = payload.get(normalize_member_path(member.linkname))
                    if source is None:
                        problems.append(f"hard link {member.path!r} names a missing file")
                    else:
                        payload[member.path] = source
                elif member.kind == "symlink":
                    links.add(member.path)
        finally:
            os.close(fd)
    except ArchiveProblem as problem:
        problems.append(problem.reason)
        return count, 0
    except OSError as exc:
        problems.append(f"cannot read the file ({exc.strerror or exc})")
        return count, 0
    if paths_json is None:
        return count, 0
    try:
        entries = parse_paths_json(paths_json).paths
    except ArchiveProblem as problem:
        problems.append(problem.reason)
        return count, 0
    checked = 0
    for entry in entries:
        if entry.path_type == "directory":
            continue
        if entry.path_type == "softlink":
            if entry.path not in links and entry.path not in payload:
                problems.append(f"{entry.path} is listed in {PATHS_JSON} but not in the payload")
            continue
        found = payload.get(entry.path)
        if found is None:
            if entry.path in links:
                continue  # conda-build lists some symlinks as hardlink entries
            problems.append(f"{entry.path} is listed in {PATHS_JSON} but not in the payload")
            continue
        checked += 1
        if entry.size_in_bytes is not None and entry.size_in_bytes != found[0]:
            problems.append(
                f"{entry.path}: size is {found[0]}, {PATHS_JSON} says {entry.size_in_bytes}"
            )
        if entry.sha256 is not None and entry.sha256 != found[1]:
            problems.append(f"{entry.path}: sha256 differs from {PATHS_JSON}")
    return count, checked
