"""Extract an artifact safely: nothing is written outside the destination, and on any failure
nothing is left behind.

Refused (`UnsafeArchive`): absolute member paths and `..` (see `normalize_member_path`), members
that would be written through a symbolic link, symbolic links whose target leaves the destination
(checked lexically per link and again, after extraction, by resolving every link on disk, which
catches chains of links), hard links to anything but a regular file extracted before, devices and
fifos. Sizes and member counts are bounded by `Limits`.

Everything is extracted into a temporary directory next to the destination and renamed onto it at
the end.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tempfile
from pathlib import Path

from stockyard.package._problems import ArchiveProblem, UnsafeMember, io_error
from stockyard.package.limits import DEFAULT_LIMITS, Limits
from stockyard.package.members import iter_members
from stockyard.package.tar_format import TarMember, TarReader, normalize_member_path
from stockyard.types.errors import Conflict, InvalidArtifact
from stockyard.types.identifiers import ArtifactFormat, artifact_format


def extract_artifact(
    path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Extract the whole artifact (info/ and payload) into `dest_dir`, which must not exist or be
    empty. Raises `InvalidArtifact`, `UnsafeArchive` or `SizeLimitExceeded` naming the file."""
    display = os.fspath(path)
    fmt = artifact_format(os.path.basename(display))
    if fmt is None:
        raise InvalidArtifact(display, "not a .conda or .tar.bz2 filename")
    dest = Path(dest_dir)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise Conflict(
            f"{dest} exists and is not an empty directory",
            hint="Extract into a new directory, or remove this one first.",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent)
    try:
        fd = os.open(display, os.O_RDONLY)
        try:
            _extract(fd, os.fstat(fd).st_size, fmt, tmp, limits)
        finally:
            os.close(fd)
        _check_links_stay_inside(tmp)
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
    except ArchiveProblem as problem:
        shutil.rmtree(tmp, ignore_errors=True)
        raise problem.to_error(display) from None
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise io_error(display, "extract", exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _through_symlink(path: str, symlinks: set[str]) -> bool:
    pos = path.find("/")
    while pos > 0:
        if path[:pos] in symlinks:
            return True
        pos = path.find("/", pos + 1)
    return False


def _check_link_target(member: TarMember) -> None:
    target = member.linkname
    if not target or "\0" in target:
        raise UnsafeMember(f"symlink {member.path!r} has an empty or invalid target")
    if target.startswith("/"):
        raise UnsafeMember(f"symlink {member.path!r} points to the absolute path {target!r}")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(member.path), target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeMember(f"symlink {member.path!r} -> {target!r} points outside the package")


def _extract(fd: int, size: int, fmt: ArtifactFormat, root: str, limits: Limits) -> None:
    symlinks: set[str] = set()
    files: set[str] = set()
    directories: list[tuple[str, int, int]] = []
    for _section, member, reader in iter_members(fd, size, fmt, limits):
        path = member.path
        if not path:
            continue  # the archive root ("./")
        if symlinks and _through_symlink(path, symlinks):
            raise UnsafeMember(f"member {path!r} would be written through a symbolic link")
        if member.kind == "special":
            raise UnsafeMember(f"member {path!r} is a device or fifo")
        target = os.path.join(root, path)
        if member.kind == "directory":
            if os.path.lexists(target) and not os.path.isdir(target):
                raise ArchiveProblem(f"directory {path!r} replaces a file")
            os.makedirs(target, exist_ok=True)
            directories.append((target, member.mode, member.mtime))
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            # A later member of the same name replaces the earlier one, as in tar; never write
            # through what is there.
            if os.path.isdir(target) and not os.path.islink(target):
                raise ArchiveProblem(f"member {path!r} replaces a directory")
            os.unlink(target)
            symlinks.discard(path)
            files.discard(path)
        if member.kind == "file":
            _write_file(target, member, reader)
            files.add(path)
        elif member.kind == "symlink":
            _check_link_target(member)
            os.symlink(member.linkname, target)
            symlinks.add(path)
        else:  # hardlink
            source = normalize_member_path(member.linkname)
            if source not in files or _through_symlink(source, symlinks):
                raise UnsafeMember(
                    f"hard link {path!r} -> {member.linkname!r} does not name a file extracted "
                    "before it"
                )
            os.link(os.path.join(root, source), target, follow_symlinks=False)
            files.add(path)
    for directory, mode, mtime in reversed(directories):
        os.chmod(directory, (mode & 0o777) | 0o700)
        os.utime(directory, (mtime, mtime))


def _write_file(target: str, member: TarMember, reader: TarReader) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    out = os.open(target, flags, 0o600)
    try:
        for chunk in reader.iter_data():
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view) :]
        # Permission bits only: setuid/setgid/sticky from an archive are never honoured.
        os.fchmod(out, member.mode & 0o777)
        os.utime(out, (member.mtime, member.mtime))
    finally:
        os.close(out)


def _check_links_stay_inside(root: str) -> None:
    """Resolve every symlink as the file system will: chains of links must stay inside too."""
    real_root = os.path.realpath(root)
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            if not stat.S_ISLNK(os.lstat(path).st_mode):
                continue
            real = os.path.realpath(path)
            if real != real_root and not real.startswith(real_root + os.sep):
                rel = os.path.relpath(path, root)
                raise UnsafeMember(f"symlink {rel!r} resolves outside the package")
