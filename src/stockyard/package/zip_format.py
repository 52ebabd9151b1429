"""A strict reader of the zip directory of a `.conda` file (end record, zip64, central directory).

A `.conda` is a zip of three stored members: `metadata.json`, `pkg-<stem>.tar.zst` and
`info-<stem>.tar.zst`. Reading its metadata needs only the directory at the end of the file and
the info member, so we parse exactly those, bounds-checking every offset against the file size:
this is untrusted input, and `zipfile` is both slower and more lenient than we want.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

from stockyard.package._problems import ArchiveProblem, TooLarge

#: `read_at(offset, length) -> bytes`: random access to the artifact (bytes slice, pread...).
ReadAt = Callable[[int, int], bytes]

_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIG: Final = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIG: Final = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIG: Final = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_CENTRAL_SIG: Final = b"PK\x01\x02"
_LOCAL = struct.Struct("<4s5H3L2H")
_LOCAL_SIG: Final = b"PK\x03\x04"
_MAX_COMMENT: Final = 0xFFFF
#: Longest tail that can hold the end record: the record plus the longest comment.
TAIL_BYTES: Final = _EOCD.size + _MAX_COMMENT
#: A `.conda` holds three members; a directory this large is hostile, not a package.
MAX_DIRECTORY_BYTES: Final = 1 << 20

STORED: Final = 0
DEFLATED: Final = 8


class ZipMember(NamedTuple):
    name: str
    raw_name: bytes
    method: int
    flags: int
    crc32: int
    compressed_size: int
    size: int
    header_offset: int


@dataclass(frozen=True, slots=True)
class ZipDirectory:
    members: dict[str, ZipMember]
    #: Where the central directory starts: member data must end before it.
    directory_offset: int
    #: Where the directory and end records start and stop, i.e. the tail we parsed.
    end_offset: int


def find_end_record(tail: bytes, tail_offset: int, file_size: int) -> tuple[int, int, int, int]:
    """(member count, directory size, directory offset, end-record offset) from the file's tail.

    `tail` holds the last bytes of the file, starting at `tail_offset`.
    """
    if file_size < _EOCD.size:
        raise ArchiveProblem("truncated zip: the file is too short to hold a zip directory")
    pos = tail.rfind(_EOCD_SIG)
    while pos >= 0:
        # The record is only genuine if its comment runs exactly to the end of the file.
        if pos + _EOCD.size <= len(tail):
            fields = _EOCD.unpack_from(tail, pos)
            if pos + _EOCD.size + fields[7] == len(tail):
                break
        pos = tail.rfind(_EOCD_SIG, 0, pos)
    else:
        raise ArchiveProblem(
            "truncated zip: no end-of-central-directory record (not a .conda, or cut short)"
        )
    _sig, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, _comment = fields
    eocd_offset = tail_offset + pos
    if disk != 0 or cd_disk != 0 or n_disk != n_total:
        raise ArchiveProblem("multi-disk zip archives are not conda packages")
    if (
        n_total == 0xFFFF
        or cd_size == 0xFFFFFFFF
        or cd_offset == 0xFFFFFFFF
        or (
            pos >= _ZIP64_LOCATOR.size
            and tail[pos - _ZIP64_LOCATOR.size : pos - _ZIP64_LOCATOR.size + 4]
            == _ZIP64_LOCATOR_SIG
        )
    ):
        return _zip64_end(tail, tail_offset, pos)
    if cd_offset + cd_size != eocd_offset:
        raise ArchiveProblem("truncated zip: the central directory does not end at the end record")
    return n_total, cd_size, cd_offset, eocd_offset


def _zip64_end(tail: bytes, tail_offset: int, pos: int) -> tuple[int, int, int, int]:
    loc = pos - _ZIP64_LOCATOR.size
    if loc < 0:
        raise ArchiveProblem("truncated zip: zip64 locator missing")
    sig, disk, z64_offset, disks = _ZIP64_LOCATOR.unpack_from(tail, loc)
    if sig != _ZIP64_LOCATOR_SIG or disk != 0 or disks != 1:
        raise ArchiveProblem("truncated zip: bad zip64 end-of-central-directory locator")
    rel = z64_offset - tail_offset
    if rel < 0 or rel + _ZIP64_EOCD.size > loc:
        raise ArchiveProblem("zip64 end record lies outside the file's tail")
    fields = _ZIP64_EOCD.unpack_from(tail, rel)
    sig, record_size, _made, _needed, disk, cd_disk, n_disk, n_total, cd_size, cd_offset = fields
    if sig != _ZIP64_EOCD_SIG or disk != 0 or cd_disk != 0 or n_disk != n_total:
        raise ArchiveProblem("bad zip64 end-of-central-directory record")
    if rel + 12 + record_size != loc:
        raise ArchiveProblem("zip64 end record has an inconsistent size")
    if cd_offset + cd_size != z64_offset:
        raise ArchiveProblem("truncated zip: the central directory does not end at the end record")
    return n_total, cd_size, cd_offset, z64_offset


def read_directory(read_at: ReadAt, file_size: int, tail: bytes | None = None) -> ZipDirectory:
    """Parse the end record and the central directory; every member is bounds-checked."""
    tail_len = min(file_size, TAIL_BYTES)
    tail_offset = file_size - tail_len
    if tail is None:
        tail = read_at(tail_offset, tail_len)
    if len(tail) != tail_len:
        raise ArchiveProblem("truncated zip: could not read the end of the file")
    n_total, cd_size, cd_offset, end_offset = find_end_record(tail, tail_offset, file_size)
    if cd_size > MAX_DIRECTORY_BYTES or n_total * _CENTRAL.size > cd_size:
        raise ArchiveProblem(f"zip directory of {cd_size} bytes for {n_total} members is invalid")
    if cd_offset >= tail_offset:
        directory = tail[cd_offset - tail_offset : cd_offset - tail_offset + cd_size]
    else:
        directory = read_at(cd_offset, cd_size)
    if len(directory) != cd_size:
        raise ArchiveProblem("truncated zip: central directory cut short")
    members: dict[str, ZipMember] = {}
    pos = 0
    entry_size = _CENTRAL.size
    unpack_from = _CENTRAL.unpack_from
    for _ in range(n_total):
        if pos + entry_size > cd_size:
            raise ArchiveProblem("truncated zip: central directory entry cut short")
        (
            sig,
            _made,
            _needed,
            flags,
            method,
            _time,
            _date,
            crc,
            csize,
            usize,
            name_len,
            extra_len,
            comment_len,
            disk,
            _iattr,
            _eattr,
            offset,
        ) = unpack_from(directory, pos)
        if sig != _CENTRAL_SIG:
            raise ArchiveProblem("corrupt zip: bad central directory entry signature")
        start = pos + entry_size
        pos = start + name_len + extra_len + comment_len
        if pos > cd_size:
            raise ArchiveProblem("truncated zip: central directory entry cut short")
        raw_name = directory[start : start + name_len]
        if usize == 0xFFFFFFFF or csize == 0xFFFFFFFF or offset == 0xFFFFFFFF or disk == 0xFFFF:
            extra = directory[start + name_len : start + name_len + extra_len]
            usize, csize, offset = _zip64_extra(extra, usize, csize, offset, disk)
        if raw_name.isascii():
            name = raw_name.decode("ascii")  # conda's names; the codecs below are slower
        else:
            try:
                name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
            except UnicodeDecodeError:
                raise ArchiveProblem("corrupt zip: member name is not UTF-8") from None
        if flags & 0x1:
            raise ArchiveProblem(f"zip member {name!r} is encrypted")
        if name in members:
            raise ArchiveProblem(f"zip member {name!r} appears twice")
        if offset + 30 + name_len + csize > cd_offset:
            raise ArchiveProblem(f"truncated zip: member {name!r} overruns the central directory")
        members[name] = ZipMember(name, raw_name, method, flags, crc, csize, usize, offset)
    if pos != cd_size:
        raise ArchiveProblem("corrupt zip: central directory size disagrees with its entries")
    if len(members) > 1:
        _check_no_overlap(members.values())
    return ZipDirectory(members, cd_offset, end_offset)


def _zip64_extra(
    extra: bytes, usize: int, csize: int, offset: int, disk: int
) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if tag != 1:
            continue
        values = []
        fields = [usize == 0xFFFFFFFF, csize == 0xFFFFFFFF, offset == 0xFFFFFFFF]
        need = 8 * sum(fields) + (4 if disk == 0xFFFF else 0)
        if len(body) < need:
            raise ArchiveProblem("corrupt zip: zip64 extra field too short")
        at = 0
        for present in fields:
            if present:
                values.append(struct.unpack_from("<Q", body, at)[0])
                at += 8
            else:
                values.append(None)
        return (
            values[0] if values[0] is not None else usize,
            values[1] if values[1] is not None else csize,
            values[2] if values[2] is not None else offset,
        )
    raise ArchiveProblem("corrupt zip: zip64 sizes announced but no zip64 extra field")


def _check_no_overlap(members: Iterable[ZipMember]) -> None:
    """Members must not share bytes (overlapping entries are a classic zip-bomb trick)."""
    ranges = sorted(
        [(m.header_offset, m.header_offset + 30 + len(m.raw_name) + m.compressed_size)
         for m in members]
    )  # fmt: skip
    end = 0
    for start, stop in ranges:
        if start < end:
            raise ArchiveProblem("corrupt zip: members overlap")
        end = stop


def local_header_span(header: bytes, member: ZipMember) -> int:
    """Length of the local header (fixed part, name, extra) that precedes `member`'s data.

    `header` holds at least the 30 fixed bytes and the name, starting at the header offset.
    """
    if len(header) < _LOCAL.size:
        raise ArchiveProblem(f"truncated zip: local header of {member.name!r} cut short")
    name_len: int
    extra_len: int
    sig, _v, _flags, method, _t, _d, _crc, _cs, _us, name_len, extra_len = _LOCAL.unpack_from(
        header, 0
    )
    if sig != _LOCAL_SIG:
        raise ArchiveProblem(f"corrupt zip: bad local header signature for {member.name!r}")
    if method != member.method:
        raise ArchiveProblem(f"corrupt zip: local header of {member.name!r} disagrees")
    if header[_LOCAL.size : _LOCAL.size + name_len] != member.raw_name:
        raise ArchiveProblem(f"corrupt zip: local header name differs for {member.name!r}")
    return _LOCAL.size + name_len + extra_len


def member_data_range(read_at: ReadAt, member: ZipMember, directory_offset: int) -> tuple[int, int]:
    """(start, end) of `member`'s stored bytes, checked to lie before the central directory."""
    head = read_at(member.header_offset, _LOCAL.size + len(member.raw_name))
    span = local_header_span(head, member)
    start = member.header_offset + span
    end = start + member.compressed_size
    if end > directory_offset:
        raise ArchiveProblem(f"truncated zip: member {member.name!r} overruns the directory")
    return start, end


def decode_member(data: bytes, member: ZipMember, limit: int) -> bytes:
    """The member's content from its stored bytes (stored or deflated), CRC-checked."""
    if member.method == STORED:
        if member.size != member.compressed_size:
            raise ArchiveProblem(f"corrupt zip: stored member {member.name!r} changes size")
        content = data
    elif member.method == DEFLATED:
        if member.size > limit:
            raise TooLarge(f"zip member {member.name!r} expands beyond {limit} bytes")
        inflater = zlib.decompressobj(-15)
        try:
            content = inflater.decompress(data, member.size + 1)
        except zlib.error as exc:
            raise ArchiveProblem(f"corrupt zip: member {member.name!r}: {exc}") from None
        if len(content) != member.size or not inflater.eof:
            raise ArchiveProblem(f"corrupt zip: member {member.name!r} has the wrong size")
    else:
        raise ArchiveProblem(f"zip member {member.name!r} uses unsupported method {member.method}")
    if zlib.crc32(content) != member.crc32:
        raise ArchiveProblem(f"corrupt zip: CRC mismatch in member {member.name!r}")
    return content
