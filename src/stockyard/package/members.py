"""Stream every tar member of an artifact, payload included (extract, verify, transmute).

A `.conda` yields the members of its info tarball first, then those of its payload tarball; a
`.tar.bz2` yields its members in archive order. Decompression is bounded by
`Limits.max_total_bytes` across the whole artifact, each payload stream by
`Limits.stream_budget` of its compressed size (bombs), and the member count by
`Limits.max_members`.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Literal

from stockyard.package._problems import ArchiveProblem, TooLarge
from stockyard.package.limits import Limits
from stockyard.package.read import check_metadata_json, conda_members
from stockyard.package.streams import (
    RangeFile,
    StreamSource,
    bz2_stream,
    file_chunks,
    zstd_stream,
)
from stockyard.package.tar_format import TarMember, TarReader
from stockyard.package.zip_format import (
    STORED,
    ZipMember,
    decode_member,
    member_data_range,
    read_directory,
)
from stockyard.types.identifiers import ArtifactFormat

Section = Literal["info", "pkg"]


class _CrcFile(RangeFile):
    """A `RangeFile` that keeps the CRC-32 of what has been read (to check the zip's CRC)."""

    __slots__ = ("crc", "read_bytes")

    def __init__(self, fd: int, start: int, end: int) -> None:
        super().__init__(fd, start, end)
        self.crc = 0
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        self.crc = zlib.crc32(data, self.crc)
        self.read_bytes += len(data)
        return data


def _info_too_large(limits: Limits) -> str:
    return f"info/ holds more than the limit of {limits.max_info_bytes} bytes"


def _drain(source: StreamSource) -> None:
    """Decompress to the end (bounded by the source's limit), so trailing corruption shows."""
    while source.skip(1 << 24):
        pass


def iter_members(
    fd: int, size: int, fmt: ArtifactFormat, limits: Limits, *, drain: bool = False
) -> Iterator[tuple[Section, TarMember, TarReader]]:
    """(section, member, reader) for every member; read data with `reader` before advancing.

    For a `.tar.bz2` every member is in section "pkg" (info/ members included). With `drain`,
    each compressed stream is decompressed to its very end and zip CRCs are checked.
    """
    if fmt == "tar.bz2":
        os.lseek(fd, 0, os.SEEK_SET)
        source = bz2_stream(file_chunks(fd), limits.stream_budget(size), "the bzip2 tarball")
        reader = TarReader(source, max_members=limits.max_members)
        info_bytes = 0
        for member in reader:
            if member.path.startswith("info/"):
                info_bytes += member.size
                if info_bytes > limits.max_info_bytes:
                    raise TooLarge(_info_too_large(limits))
            yield "pkg", member, reader
        if drain:
            _drain(source)
        return

    def read_at(offset: int, length: int) -> bytes:
        return os.pread(fd, length, offset)

    directory = read_directory(read_at, size)
    metadata, info, pkg = conda_members(directory)
    start, end = member_data_range(read_at, metadata, directory.directory_offset)
    check_metadata_json(decode_member(read_at(start, end - start), metadata, 1 << 16))
    budget = limits.max_total_bytes
    members_left = limits.max_members
    sections: list[tuple[Section, ZipMember]] = [("info", info)]
    if pkg is not None:
        sections.append(("pkg", pkg))
    for section, zmember in sections:
        if zmember.method != STORED:
            raise ArchiveProblem(f"{zmember.name} is compressed inside the zip (must be stored)")
        start, end = member_data_range(read_at, zmember, directory.directory_offset)
        raw = _CrcFile(fd, start, end)
        if section == "info":
            limit = min(budget, limits.max_info_bytes)
        else:
            limit = min(budget, limits.stream_budget(end - start))
        source = zstd_stream(raw, limit, zmember.name)
        reader = TarReader(source, max_members=members_left)
        count = 0
        for member in reader:
            count += 1
            yield section, member, reader
        if drain:
            _drain(source)
            if raw.read_bytes != end - start:
                raise ArchiveProblem(f"{zmember.name} has data after its zstd frames")
            if raw.crc != zmember.crc32:
                raise ArchiveProblem(f"corrupt zip: CRC mismatch in member {zmember.name!r}")
        budget -= source.produced
        members_left -= count
