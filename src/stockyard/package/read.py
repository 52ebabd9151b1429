"""Read an artifact's metadata and hashes in one pass over its bytes.

`read_artifact` hashes exactly the bytes it parses, never reads the file twice, and never
extracts the payload:

- files up to `IN_MEMORY_BYTES` are read with one system call, then hashed and parsed in memory;
- a larger `.conda` is read sequentially in chunks that feed the hashers, capturing on the way the
  byte ranges its zip directory names (the directory itself, `metadata.json`, the info tarball);
  the directory is located first with a small read of the tail, and the captured copy is checked
  to be identical to it, so what we parse is what we hashed;
- a larger `.tar.bz2` is stream-decompressed from the same chunks until the `info/` members have
  been seen; the remaining chunks are only hashed.
"""

from __future__ import annotations

import bz2
import hashlib
import os
import stat
from collections.abc import Iterator
from typing import Final

import msgspec

from stockyard.package._problems import ArchiveProblem, TooLarge, io_error
from stockyard.package.limits import DEFAULT_LIMITS, Limits
from stockyard.package.metadata import (
    ICON,
    INFO_MEMBERS,
    RECIPE_FILES,
    ArtifactMetadata,
    PathFlags,
    build_metadata,
    decode_json,
)
from stockyard.package.streams import (
    Bz2Producer,
    StreamSource,
    bz2_stream,
    file_chunks,
    read_whole,
    zstd_decompress,
)
from stockyard.package.tar_format import TarReader
from stockyard.package.zip_format import (
    TAIL_BYTES,
    ReadAt,
    ZipDirectory,
    ZipMember,
    decode_member,
    member_data_range,
    read_directory,
)
from stockyard.types.errors import InvalidArtifact, InvalidIdentifier
from stockyard.types.identifiers import ArtifactName, parse_artifact_filename

__all__ = ["ArtifactMetadata", "PathFlags", "read_artifact", "read_named_artifact"]

#: Files up to this size are read into memory whole; larger ones are streamed.
IN_MEMORY_BYTES: Final = 16 << 20
METADATA_JSON: Final = "metadata.json"
CONDA_FORMAT_VERSION: Final = 2
_MAX_METADATA_JSON: Final = 1 << 16
_json = msgspec.json.Decoder()


def read_artifact(
    path: str | os.PathLike[str],
    *,
    filename: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ArtifactMetadata:
    """Metadata and hashes of the `.conda` or `.tar.bz2` artifact at `path`.

    `filename` is the artifact's name when `path` is named otherwise (an uploaded temp file); the
    format and the expected name-version-build come from it. Raises `InvalidArtifact` (or its
    subclasses `UnsafeArchive`, `SizeLimitExceeded`) naming the file and the problem.
    """
    path_str = os.fspath(path)
    name = filename if filename is not None else os.path.basename(path_str)
    display = filename if filename is not None else path_str
    try:
        expected = parse_artifact_filename(name)
    except InvalidIdentifier as exc:
        raise InvalidArtifact(display, exc.message) from None
    return read_named_artifact(path_str, expected, display=display, limits=limits)


def read_named_artifact(
    path: str, expected: ArtifactName, *, display: str, limits: Limits = DEFAULT_LIMITS
) -> ArtifactMetadata:
    """`read_artifact` of a file whose name was already parsed (`parse_artifact_filename`), so
    that a caller that needs the parts too (admission, `stockyard index`) parses it once;
    errors name `display`."""
    try:
        return _read(path, expected, limits)
    except ArchiveProblem as problem:
        raise problem.to_error(display) from None
    except OSError as exc:
        raise io_error(display, "read the file", exc) from None


def _read(path: str, expected: ArtifactName, limits: Limits) -> ArtifactMetadata:
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArchiveProblem("not a regular file")
        if st.st_size <= IN_MEMORY_BYTES:
            data = read_whole(fd, st.st_size)
            if expected.extension == "conda":
                files = conda_info_members(_slicer(data), len(data), limits)
            else:
                files = _small_tar_bz2_info_members(data, limits)
            size = len(data)
            sha256 = hashlib.sha256(data).hexdigest()
            md5 = hashlib.md5(data).hexdigest()
        else:
            hashing = _HashingChunks(fd)
            if expected.extension == "conda":
                files = _large_conda_info_members(fd, st.st_size, hashing, limits)
            else:
                files = tar_bz2_info_members(hashing, st.st_size, limits)
                for _ in hashing:
                    pass  # the rest of the file is only hashed
            size, sha256, md5 = hashing.size, hashing.sha256.hexdigest(), hashing.md5.hexdigest()
    finally:
        os.close(fd)
    return build_metadata(
        files,
        expected=expected,
        size=size,
        md5=md5,
        sha256=sha256,
        max_icon_bytes=limits.max_icon_bytes,
        max_recipe_bytes=limits.max_recipe_bytes,
    )


def _slicer(data: bytes) -> ReadAt:
    return lambda offset, length: data[offset : offset + length]


class _HashingChunks:
    """Sequential chunks of a file; every chunk handed out has been hashed first."""

    def __init__(self, fd: int) -> None:
        self._chunks = file_chunks(fd)
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        chunk = next(self._chunks)
        self.sha256.update(chunk)
        self.md5.update(chunk)
        self.size += len(chunk)
        return chunk


def collect_info_members(
    reader: TarReader, limits: Limits, *, stop_after_info: bool
) -> dict[str, bytes]:
    """The bytes of the `INFO_MEMBERS` found in a tar stream.

    With `stop_after_info`, stops at the first non-`info/` member after `info/` members have been
    seen: conda writes `info/` first, so the payload of a `.tar.bz2` is never decompressed.
    """
    files: dict[str, bytes] = {}
    info_bytes = 0
    seen_info = False
    for member in reader:
        path = member.path
        if path.startswith("info/"):
            seen_info = True
            # All of info/ counts, read or skipped: the same bound as a .conda's info tarball.
            info_bytes += member.size
            if info_bytes > limits.max_info_bytes:
                raise TooLarge(f"info/ holds more than the limit of {limits.max_info_bytes} bytes")
            if path not in INFO_MEMBERS:
                continue
            if member.kind != "file":
                raise ArchiveProblem(f"{path} is not a regular file")
            if path in files:
                raise ArchiveProblem(f"{path} appears twice in the archive")
            if (path == ICON and member.size > limits.max_icon_bytes) or (
                path in RECIPE_FILES and member.size > limits.max_recipe_bytes
            ):
                continue  # left out of the metadata, by design
            files[path] = reader.read_data()
        elif stop_after_info and seen_info:
            break
    return files


#: The first decompression step of a .tar.bz2 held in memory. Small artifacts end within it and
#: are parsed in place; larger ones continue streaming from there, so only the bzip2 blocks that
#: hold info/ are ever decompressed (a block is up to 900 kB and costs ~50 ms).
_FIRST_BZ2_STEP: Final = 1 << 18


def _small_tar_bz2_info_members(data: bytes, limits: Limits) -> dict[str, bytes]:
    budget = limits.stream_budget(len(data))
    decompressor = bz2.BZ2Decompressor()
    try:
        first = decompressor.decompress(data, min(_FIRST_BZ2_STEP, budget))
    except (OSError, EOFError):
        return tar_bz2_info_members(iter((data,)), len(data), limits)  # reports the corruption
    if decompressor.eof and not decompressor.unused_data:
        reader = TarReader(first, max_members=limits.max_members)
    else:
        # Larger, multi-stream or truncated: carry on from the same decompressor state.
        producer = Bz2Producer(iter(()), "the bzip2 tarball", decompressor)
        pending = [first]

        def produce(n: int) -> bytes:
            return pending.pop() if pending else producer(n)

        source = StreamSource(produce, limit=budget, what="the bzip2 tarball")
        reader = TarReader(source, max_members=limits.max_members)
    return collect_info_members(reader, limits, stop_after_info=True)


def tar_bz2_info_members(chunks: Iterator[bytes], size: int, limits: Limits) -> dict[str, bytes]:
    """The `INFO_MEMBERS` of a `.tar.bz2` of `size` bytes arriving as `chunks`; decompression is
    bounded by `Limits.stream_budget` (a bomb placed before `info/` stops early)."""
    source = bz2_stream(chunks, limits.stream_budget(size), "the bzip2 tarball")
    reader = TarReader(source, max_members=limits.max_members)
    return collect_info_members(reader, limits, stop_after_info=True)


def check_metadata_json(raw: bytes) -> None:
    value = decode_json(raw, METADATA_JSON)
    version = value.get("conda_pkg_format_version") if isinstance(value, dict) else None
    if version != CONDA_FORMAT_VERSION:
        raise ArchiveProblem(
            f"unsupported .conda format: {METADATA_JSON} has conda_pkg_format_version "
            f"{version!r}, this reader knows {CONDA_FORMAT_VERSION}"
        )


def conda_members(directory: ZipDirectory) -> tuple[ZipMember, ZipMember, ZipMember | None]:
    """(metadata.json, info tarball, pkg tarball or None) of a `.conda` zip directory."""
    metadata = directory.members.get(METADATA_JSON)
    if metadata is None:
        raise ArchiveProblem(f"no {METADATA_JSON} in the .conda zip")
    infos: list[ZipMember] = []
    pkgs: list[ZipMember] = []
    for name, member in directory.members.items():
        if name[:5] == "info-":
            infos.append(member)
        elif name[:4] == "pkg-":
            pkgs.append(member)
    if not infos or not infos[0].name.endswith(".tar.zst"):
        raise ArchiveProblem("no info-*.tar.zst member in the .conda zip")
    if len(infos) > 1 or len(pkgs) > 1:
        raise ArchiveProblem("the .conda zip has more than one info or pkg tarball")
    if pkgs and not pkgs[0].name.endswith(".tar.zst"):
        raise ArchiveProblem(f"unsupported payload member {pkgs[0].name!r} in the .conda zip")
    return metadata, infos[0], (pkgs[0] if pkgs else None)


def _check_info_member_size(member: ZipMember, limits: Limits) -> None:
    if member.compressed_size > limits.max_info_bytes:
        raise TooLarge(
            f"{member.name} is {member.compressed_size} bytes, over the limit of "
            f"{limits.max_info_bytes}"
        )


def _info_from_member_bytes(
    metadata: ZipMember, metadata_raw: bytes, info: ZipMember, info_raw: bytes, limits: Limits
) -> dict[str, bytes]:
    check_metadata_json(decode_member(metadata_raw, metadata, _MAX_METADATA_JSON))
    compressed = decode_member(info_raw, info, limits.max_info_bytes)
    tar = zstd_decompress(compressed, limits.max_info_bytes, info.name)
    reader = TarReader(tar, max_members=limits.max_members)
    return collect_info_members(reader, limits, stop_after_info=False)


def conda_info_members(read_at: ReadAt, size: int, limits: Limits) -> dict[str, bytes]:
    """The `INFO_MEMBERS` of a `.conda` held in memory (or behind any random-access reader)."""
    directory = read_directory(read_at, size)
    metadata, info, _pkg = conda_members(directory)
    _check_info_member_size(info, limits)
    meta_start, meta_end = member_data_range(read_at, metadata, directory.directory_offset)
    info_start, info_end = member_data_range(read_at, info, directory.directory_offset)
    return _info_from_member_bytes(
        metadata,
        read_at(meta_start, meta_end - meta_start),
        info,
        read_at(info_start, info_end - info_start),
        limits,
    )


def _large_conda_info_members(
    fd: int, size: int, hashing: _HashingChunks, limits: Limits
) -> dict[str, bytes]:
    # 1. Locate the members with a few small preads (tail, local headers), recording them.
    seen: list[tuple[int, bytes]] = []

    def pread(offset: int, length: int) -> bytes:
        data = os.pread(fd, length, offset)
        seen.append((offset, data))
        return data

    tail_len = min(size, TAIL_BYTES)
    directory = read_directory(pread, size, pread(size - tail_len, tail_len))
    metadata, info, _pkg = conda_members(directory)
    _check_info_member_size(info, limits)
    meta_range = member_data_range(pread, metadata, directory.directory_offset)
    info_range = member_data_range(pread, info, directory.directory_offset)
    # 2. One sequential pass: hash everything, capture what was pread and the two members.
    wanted = [(off, off + len(data)) for off, data in seen] + [meta_range, info_range]
    captured = [bytearray() for _ in wanted]
    offset = 0
    for chunk in hashing:
        end = offset + len(chunk)
        for (start, stop), buf in zip(wanted, captured, strict=True):
            if start < end and stop > offset:
                buf += chunk[max(start - offset, 0) : min(stop, end) - offset]
        offset = end
    if offset != size:
        raise ArchiveProblem("the file changed size while being read")
    # 3. What we located the members with must be what we hashed.
    for (_, data), buf in zip(seen, captured, strict=False):
        if buf != data:
            raise ArchiveProblem("the file changed while being read")
    return _info_from_member_bytes(metadata, bytes(captured[-2]), info, bytes(captured[-1]), limits)
