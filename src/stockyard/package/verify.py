"""Verify an artifact end to end: readable metadata, every member decompresses, nothing could
escape or confuse an installer, the payload matches `info/paths.json`, and (optionally) the file
has the expected sha256.

The payload is streamed once, bounded by `Limits` (`max_total_bytes`, and `stream_budget` of
each stream's compressed size against compression bombs). Refused, beyond what reading refuses:

- member paths that are absolute or contain `..` (the tar reader refuses them), devices and
  fifos, members written through a symbolic link, symbolic links whose target is absolute or
  leaves the package (alone or as a chain of links), hard links to anything but a regular file
  stored before them, a path stored twice (the later copy would win on extraction);
- in a `.conda`: a missing `pkg-*.tar.zst`, inner tarballs not named for the file's stem (conda
  opens `info-<stem>.tar.zst` and `pkg-<stem>.tar.zst` by name), `info/` members in the payload
  tarball or other members in the info tarball (either would let the installed package differ
  from the metadata that was indexed);
- payload data after the end of a stream, truncated or corrupt streams, zip CRC mismatches;
- `info/paths.json` entries that are unsafe paths, missing from the payload, or whose size or
  sha256 differ from the payload.

`verify_artifact` reports every problem; `VerifyReport.raise_for_problems` turns them into one
`InvalidArtifact` (`UnsafeArchive` when anything is unsafe, `SizeLimitExceeded` for a bomb), which
is how uploads use it.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from dataclasses import dataclass, field
from typing import Final

from stockyard.package._problems import ArchiveProblem, UnsafeMember, io_error
from stockyard.package.limits import DEFAULT_LIMITS, Limits
from stockyard.package.members import Section, iter_members
from stockyard.package.metadata import PATHS_JSON, ArtifactMetadata, parse_paths_json
from stockyard.package.read import conda_members, read_artifact
from stockyard.package.streams import file_chunks
from stockyard.package.tar_format import TarMember, TarReader, normalize_member_path
from stockyard.package.zip_format import read_directory
from stockyard.types.errors import (
    HashMismatch,
    InvalidArtifact,
    SizeLimitExceeded,
    UnsafeArchive,
)
from stockyard.types.identifiers import ArtifactFormat, artifact_format, check_sha256

#: Problems listed per artifact; a hostile one could otherwise produce millions.
MAX_PROBLEMS: Final = 50
#: Links followed when resolving a chain (Linux gives up at 40 too: ELOOP).
_MAX_LINK_HOPS: Final = 40


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
    #: The problems as errors, in the same order (their class tells unsafe, too large, invalid).
    errors: tuple[InvalidArtifact, ...] = field(default=(), repr=False, compare=False)
    #: The artifact's metadata, when it could be read (what `read_artifact` returns).
    metadata: ArtifactMetadata | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise one error naming every problem (none when `ok`): `UnsafeArchive` if any
        problem is unsafe, else `SizeLimitExceeded` if any is a size limit, else
        `InvalidArtifact`."""
        if not self.errors:
            return
        kind: type[InvalidArtifact] = InvalidArtifact
        for candidate in (UnsafeArchive, SizeLimitExceeded):
            if any(isinstance(error, candidate) for error in self.errors):
                kind = candidate
                break
        reasons = list(dict.fromkeys(error.reason for error in self.errors))
        raise kind(self.errors[0].path, "; ".join(reasons))


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

    `filename` is the artifact's name when `path` is named otherwise (an upload's temp file);
    errors then name it instead of the path. Raises `HashMismatch` when `sha256` is given and
    differs; every other problem (corrupt data, unsafe members, inconsistent metadata, payload
    not matching paths.json) is listed in the report.
    """
    display = os.fspath(path)
    name = filename if filename is not None else os.path.basename(display)
    label = filename if filename is not None else display
    fmt = artifact_format(name)
    if fmt is None:
        raise InvalidArtifact(label, "not a .conda or .tar.bz2 filename")
    errors: list[InvalidArtifact] = []
    metadata: ArtifactMetadata | None = None
    try:
        metadata = read_artifact(display, filename=name, limits=limits)
    except InvalidArtifact as exc:
        errors.append(exc.__class__(label, exc.reason))
    if metadata is not None:  # reading hashed every byte already
        size, md5, actual = metadata.size, metadata.md5, metadata.sha256
    else:
        try:
            size, md5, actual = _hash_file(display)
        except OSError as exc:
            raise io_error(label, "read the file", exc) from None
    if sha256 is not None and check_sha256(sha256) != actual:
        raise HashMismatch(f"{label}: sha256 is {actual}, expected {sha256.lower()}")
    check = _PayloadCheck(fmt, limits)
    if not any(isinstance(error, SizeLimitExceeded) for error in errors):
        check.run(display, size, name)  # else a bomb: decompressing it again finds no more
    errors.extend(problem.to_error(label) for problem in check.problems)
    if len(errors) > MAX_PROBLEMS:
        errors = [
            *errors[: MAX_PROBLEMS - 1],
            InvalidArtifact(label, f"... and {len(errors) - MAX_PROBLEMS + 1} more problems"),
        ]
    return VerifyReport(
        path=display,
        format=fmt,
        size=size,
        md5=md5,
        sha256=actual,
        members=check.members,
        files_checked=check.files_checked,
        problems=tuple(error.reason for error in errors),
        errors=tuple(errors),
        metadata=metadata,
    )


def _escapes(link: TarMember) -> str | None:
    """Why the symlink's own target is unsafe (as extraction judges it), or None."""
    target = link.linkname
    if not target or "\0" in target:
        return f"symlink {link.path!r} has an empty or invalid target"
    if target.startswith("/"):
        return f"symlink {link.path!r} points to the absolute path {target!r}"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link.path), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"symlink {link.path!r} -> {target!r} points outside the package"
    return None


def resolves_outside(path: str, symlinks: dict[str, str]) -> bool:
    """Whether `path`, resolved as the file system would after extraction (following every
    symlink of the package, `..` applied to the resolved directory), leaves the package root.
    A loop is not an escape (the OS refuses to follow it)."""
    resolved: list[str] = []
    stack = path.split("/")[::-1]
    hops = 0
    while stack:
        part = stack.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return True
            resolved.pop()
            continue
        resolved.append(part)
        target = symlinks.get("/".join(resolved))
        if target is None:
            continue
        hops += 1
        if hops > _MAX_LINK_HOPS:
            return False
        if target.startswith("/"):
            return True
        resolved.pop()
        stack.extend(target.split("/")[::-1])
    return False


class _PayloadCheck:
    """One pass over every member: safety, layout, and the payload against paths.json."""

    def __init__(self, fmt: ArtifactFormat, limits: Limits) -> None:
        self.fmt = fmt
        self.limits = limits
        self.problems: list[ArchiveProblem] = []
        self.members = 0
        self.files_checked = 0
        #: Regular files and hard links to them: (size, sha256).
        self.files: dict[str, tuple[int, str]] = {}
        self.symlinks: dict[str, str] = {}
        #: Symlinks whose own target is already reported (their chains are not re-reported).
        self.bad_links: set[str] = set()
        self.stored: set[str] = set()
        self.paths_json: bytes | None = None
        #: Whether every member was read (a broken stream stops the pass early).
        self.complete = False
        #: `.tar.bz2`: info/ members seen, then a payload member after them.
        self._info_seen = self._payload_after_info = False

    def problem(self, problem: ArchiveProblem) -> None:
        if len(self.problems) <= MAX_PROBLEMS:
            self.problems.append(problem)

    def run(self, path: str, size: int, name: str) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            self.problem(ArchiveProblem(f"cannot read the file ({exc.strerror or exc})"))
            return
        try:
            if self.fmt == "conda":
                self._check_zip_members(fd, size, name[: -len(".conda")])
            self._read_members(fd, size)
        finally:
            os.close(fd)
        if self.complete:
            self._check_symlink_chains()
            if self.paths_json is not None:
                self._compare_paths_json(self.paths_json)

    def _check_zip_members(self, fd: int, size: int, stem: str) -> None:
        try:
            directory = read_directory(lambda offset, n: os.pread(fd, n, offset), size)
            _metadata, info, pkg = conda_members(directory)
        except ArchiveProblem:
            return  # reported by reading and by the member pass
        except OSError:
            return
        if info.name != f"info-{stem}.tar.zst":
            self.problem(ArchiveProblem(f"the info tarball is named {info.name!r}, not for {stem}"))
        if pkg is None:
            self.problem(ArchiveProblem(f"no pkg-{stem}.tar.zst member in the .conda zip"))
        elif pkg.name != f"pkg-{stem}.tar.zst":
            self.problem(
                ArchiveProblem(f"the payload tarball is named {pkg.name!r}, not for {stem}")
            )

    def _read_members(self, fd: int, size: int) -> None:
        members = iter_members(fd, size, self.fmt, self.limits, drain=True)
        try:
            for section, member, reader in members:
                self.members += 1
                self._member(section, member, reader)  # raises only when the stream is broken
            self.complete = True
        except ArchiveProblem as problem:
            self.problem(problem)
        except OSError as exc:
            self.problem(ArchiveProblem(f"cannot read the file ({exc.strerror or exc})"))

    def _member(self, section: Section, member: TarMember, reader: TarReader) -> None:
        path = member.path
        if not path:
            return  # the archive root ("./")
        self._check_place(section, member)
        if self._through_symlink(path):
            self.problem(UnsafeMember(f"member {path!r} would be written through a symbolic link"))
        kind = member.kind
        if kind == "directory":
            return
        if path in self.stored:
            self.problem(ArchiveProblem(f"member {path!r} appears twice in the archive"))
        self.stored.add(path)
        if kind == "file":
            digest = hashlib.sha256()
            data = bytearray() if path == PATHS_JSON else None
            for chunk in reader.iter_data():
                digest.update(chunk)
                if data is not None:
                    data += chunk
            if data is not None:
                self.paths_json = bytes(data)
            self.files[path] = (member.size, digest.hexdigest())
        elif kind == "hardlink":
            self._hardlink(member)
        elif kind == "symlink":
            reason = _escapes(member)
            if reason is not None:
                self.problem(UnsafeMember(reason))
                self.bad_links.add(path)
            self.symlinks[path] = member.linkname
        else:
            self.problem(UnsafeMember(f"member {path!r} is a device or fifo"))

    def _check_place(self, section: Section, member: TarMember) -> None:
        """In a `.conda`, info/ lives in the info tarball and nowhere else; in a `.tar.bz2`,
        info/ is one run (reading stops at the first payload member after it)."""
        path = member.path
        in_info = path == "info" or path.startswith("info/")
        if self.fmt != "conda":
            if in_info and self._payload_after_info and member.kind != "directory":
                self.problem(
                    ArchiveProblem(f"{path!r} comes after payload members that follow info/")
                )
            elif in_info:
                self._info_seen = True
            elif self._info_seen:
                self._payload_after_info = True
            return
        if section == "info" and not in_info:
            self.problem(ArchiveProblem(f"the info tarball holds {path!r}, outside info/"))
        elif section == "pkg" and in_info and not (path == "info" and member.kind == "directory"):
            self.problem(ArchiveProblem(f"the payload tarball holds {path!r}, inside info/"))

    def _through_symlink(self, path: str) -> bool:
        if not self.symlinks:
            return False
        pos = path.find("/")
        while pos > 0:
            if path[:pos] in self.symlinks:
                return True
            pos = path.find("/", pos + 1)
        return False

    def _hardlink(self, member: TarMember) -> None:
        try:
            source = normalize_member_path(member.linkname)
        except ArchiveProblem as problem:
            self.problem(UnsafeMember(f"hard link {member.path!r}: {problem.reason}"))
            return
        found = self.files.get(source)
        if found is None or self._through_symlink(source):
            self.problem(
                UnsafeMember(
                    f"hard link {member.path!r} -> {member.linkname!r} does not name a regular "
                    "file stored before it"
                )
            )
            return
        if source.startswith("info/") != member.path.startswith("info/"):
            self.problem(
                ArchiveProblem(
                    f"hard link {member.path!r} -> {source!r} crosses info/ and the payload"
                )
            )
        self.files[member.path] = found

    def _check_symlink_chains(self) -> None:
        for path in self.symlinks:
            if path not in self.bad_links and resolves_outside(path, self.symlinks):
                self.problem(UnsafeMember(f"symlink {path!r} resolves outside the package"))

    def _compare_paths_json(self, raw: bytes) -> None:
        try:
            entries = parse_paths_json(raw).paths
        except ArchiveProblem as problem:
            self.problem(problem)
            return
        for entry in entries:
            try:
                normalize_member_path(entry.path)
            except ArchiveProblem as problem:
                self.problem(UnsafeMember(f"{PATHS_JSON}: {problem.reason}"))
                continue
            if entry.path_type == "directory":
                continue
            if entry.path_type == "softlink":
                if entry.path not in self.symlinks and entry.path not in self.files:
                    self.problem(
                        ArchiveProblem(
                            f"{entry.path} is listed in {PATHS_JSON} but not in the payload"
                        )
                    )
                continue
            found = self.files.get(entry.path)
            if found is None:
                if entry.path in self.symlinks:
                    continue  # conda-build lists some symlinks as hardlink entries
                self.problem(
                    ArchiveProblem(f"{entry.path} is listed in {PATHS_JSON} but not in the payload")
                )
                continue
            self.files_checked += 1
            if entry.size_in_bytes is not None and entry.size_in_bytes != found[0]:
                self.problem(
                    ArchiveProblem(
                        f"{entry.path}: size is {found[0]}, {PATHS_JSON} says {entry.size_in_bytes}"
                    )
                )
            if entry.sha256 is not None and entry.sha256 != found[1]:
                self.problem(ArchiveProblem(f"{entry.path}: sha256 differs from {PATHS_JSON}"))
