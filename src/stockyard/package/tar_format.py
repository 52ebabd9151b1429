"""A small, strict reader and a reproducible writer of tar archives (ustar, pax and GNU headers).

Why not `tarfile`: it is slow for the many tiny archives an indexer reads, lenient about broken
headers, and hard to bound against hostile input. This reader checks every header checksum and
number field, bounds extended headers, and turns every irregularity into an `ArchiveProblem`.

Member paths are normalized (`./a//b` -> `a/b`) and refused when absolute or containing `..`, so
no caller ever sees a path that could leave a destination directory. Names are decoded as UTF-8
with `surrogateescape`, which keeps non-UTF-8 names byte-exact through a read/write round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Final, Literal, Protocol
from zlib import adler32

from stockyard.package._problems import ArchiveProblem, TooLarge, UnsafeMember

BLOCK: Final = 512
#: tarfile (and GNU tar) pad archives to a multiple of 20 blocks; we do the same.
RECORD: Final = 20 * BLOCK
ZERO_BLOCK: Final = bytes(BLOCK)
#: Bounds on extended headers (pax records, GNU long names), which are held in memory.
MAX_EXTENDED_HEADER: Final = 1 << 20
MAX_OCTAL_11: Final = 8**11 - 1

MemberKind = Literal["file", "directory", "symlink", "hardlink", "special"]

_KINDS: Final[dict[bytes, MemberKind]] = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",  # contiguous file: a regular file everywhere that matters
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "special",  # character device
    b"4": "special",  # block device
    b"5": "directory",
    b"6": "special",  # fifo
}
_OCTAL_DIGITS: Final = b"01234567"
# Header layout (offsets): name 0:100, mode 100:108, uid 108:116, gid 116:124, size 124:136,
# mtime 136:148, chksum 148:156, typeflag 156, linkname 157:257, magic 257:263, version 263:265,
# uname 265:297, gname 297:329, devmajor 329:337, devminor 337:345, prefix 345:500.
_EXTENDED_TYPES: Final = frozenset((b"x", b"g", b"L", b"K", b"X"))
_MAGICS: Final = frozenset((b"ustar\0", b"ustar ", bytes(6)))
_DECIMAL_DIGITS: Final = b"0123456789"
_new_tuple = tuple.__new__


class ByteSource(Protocol):
    """Sequential bytes: `read(n)` returns fewer than n bytes only at the end of the data."""

    def read(self, n: int, /) -> bytes: ...

    def skip(self, n: int, /) -> int: ...


class TarMember(tuple[str, MemberKind, int, bytes, dict[str, str] | None, str | None]):
    """One tar member. `path` is normalized and safe (relative, no `..`); `linkname` is raw.

    `mode`, `mtime` and `linkname` are parsed when first asked for: reading metadata skips most
    members and never needs them. (A tuple subclass: created and read in C, it is the cheapest
    object Python has, and the reader makes one per member.)
    """

    __slots__ = ()

    def __new__(
        cls,
        path: str,
        kind: MemberKind,
        size: int,
        header: bytes,
        pax: dict[str, str] | None = None,
        long_link: str | None = None,
    ) -> TarMember:
        return tuple.__new__(cls, (path, kind, size, header, pax, long_link))

    if TYPE_CHECKING:

        @property
        def path(self) -> str: ...
        @property
        def kind(self) -> MemberKind: ...
        @property
        def size(self) -> int: ...

    else:
        # itemgetter properties run in C: cheaper than `def` properties on this hot path.
        path = property(itemgetter(0))
        kind = property(itemgetter(1))
        #: Data size of a regular file (0 for other kinds).
        size = property(itemgetter(2))

    @property
    def mode(self) -> int:
        """Permission bits (and setuid/setgid/sticky), without the file type."""
        return _number(self[3][100:108], "mode") & 0o7777

    @property
    def mtime(self) -> int:
        pax = self[4]
        if pax and "mtime" in pax:
            try:
                return int(float(pax["mtime"]))
            except (ValueError, OverflowError):
                raise ArchiveProblem(f"pax header of {self.path!r} has a bad mtime") from None
        return _number(self[3][136:148], "mtime")

    @property
    def linkname(self) -> str:
        pax = self[4]
        if pax and "linkpath" in pax:
            return pax["linkpath"]
        if self[5] is not None:
            return self[5]
        return _text(self[3][157:257])

    def __repr__(self) -> str:
        return f"TarMember({self.path!r}, {self.kind!r}, size={self.size})"


def normalize_member_path(name: str) -> str:
    """`./a//b/` -> `a/b`; refuse absolute paths, `..` and NUL. "" means the archive root."""
    if (
        name
        and name[0] != "/"
        and name[-1] != "/"
        and "//" not in name
        and "/." not in name
        and name[0] != "."
        and "\0" not in name
    ):
        return name  # fast path: already clean
    if "\0" in name:
        raise UnsafeMember(f"member name {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise UnsafeMember(f"member {name!r} has an absolute path")
    parts = []
    for part in name.split("/"):
        if part == "..":
            raise UnsafeMember(f"member {name!r} contains '..'")
        if part and part != ".":
            parts.append(part)
    return "/".join(parts)


def _number(field: bytes, what: str) -> int:
    """An octal number field (NUL/space padded), or GNU base-256 when the high bit is set."""
    try:
        # Fast path for the usual `0000644\0`; int() also takes surrounding spaces.
        return int(field.rstrip(b"\0 ") or b"0", 8)
    except ValueError:
        pass
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:  # negative base-256
            value -= 1 << (8 * (len(field) - 1))
        else:
            value += (field[0] & 0x7F) << (8 * (len(field) - 1))
        return value
    end = field.find(b"\0")  # tar fields end at the first NUL; garbage may follow
    digits = (field if end < 0 else field[:end]).strip(b" ")
    if not digits:
        return 0
    if digits.translate(None, _OCTAL_DIGITS):
        raise ArchiveProblem(f"tar header has a malformed {what} field {field!r}")
    return int(digits, 8)


def _check_signed_checksum(block: bytes, stored: int) -> None:
    """Some old tars summed signed chars; accept that variant, refuse anything else."""
    unsigned = sum(block) - sum(block[148:156]) + 256
    high = sum(1 for b in block if b > 127) - sum(1 for b in block[148:156] if b > 127)
    if stored != unsigned - 256 * high:
        raise ArchiveProblem("tar header checksum mismatch (corrupt archive)")


def _text(field: bytes) -> str:
    end = field.find(b"\0")
    return (field if end < 0 else field[:end]).decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes) -> dict[str, str]:
    """pax extended header records: `<length> <key>=<value>\\n`."""
    records: dict[str, str] = {}
    pos = 0
    end = len(data)
    while pos < end:
        if data[pos] == 0 and not data[pos:].strip(b"\0"):
            break  # NUL padding after the last record
        space = data.find(b" ", pos, min(end, pos + 20))
        digits = data[pos:space] if space > pos else b""
        if not digits or digits.translate(None, _DECIMAL_DIGITS):
            raise ArchiveProblem("malformed pax extended header (bad record length)")
        length = int(digits)
        stop = pos + length
        if stop > end or stop <= space + 1 or data[stop - 1] != 0x0A:
            raise ArchiveProblem("malformed pax extended header (record overruns)")
        key, eq, value = data[space + 1 : stop - 1].partition(b"=")
        if not eq or not key:
            raise ArchiveProblem("malformed pax extended header (record without '=')")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos = stop
    return records


class TarReader:
    """Iterate the members of a tar archive; read a member's data before advancing (or skip it).

    The archive is `bytes` already in memory (parsed in place, the fast path for the small info
    tarballs an indexer reads by the thousand) or a `ByteSource` pulled in chunks.
    `max_members` bounds the member count (each costs a header parse even when skipped).
    """

    __slots__ = ("_buf", "_count", "_data_left", "_done", "_max_members", "_pad", "_pos", "_src")

    def __init__(self, source: bytes | ByteSource, *, max_members: int) -> None:
        if isinstance(source, bytes):
            self._buf = source
            self._src: ByteSource | None = None
        else:
            self._buf = b""
            self._src = source
        self._pos = 0
        self._data_left = 0
        self._pad = 0
        self._done = False
        self._count = 0
        self._max_members = max_members

    def __iter__(self) -> Iterator[TarMember]:
        return self

    def _take(self, n: int, what: str) -> bytes:
        """Exactly n bytes, from the buffer or (refilling it) the source."""
        pos = self._pos
        end = pos + n
        if end <= len(self._buf):
            self._pos = end
            return self._buf[pos:end]
        rest = self._buf[pos:]
        more = self._src.read(max(n - len(rest), 1 << 16)) if self._src is not None else b""
        self._buf = rest + more
        self._pos = 0
        if len(self._buf) < n:
            if what == "header" and not self._buf:
                return b""
            raise ArchiveProblem(f"tar archive is truncated ({what})")
        self._pos = n
        return self._buf[:n]

    def _skip(self, n: int) -> None:
        available = len(self._buf) - self._pos
        if n <= available:
            self._pos += n
            return
        self._buf = b""
        self._pos = 0
        left = n - available
        if self._src is None or self._src.skip(left) != left:
            raise ArchiveProblem("tar archive is truncated (member data)")

    def _extended_data(self, size: int) -> bytes:
        if size > MAX_EXTENDED_HEADER:
            raise ArchiveProblem(f"tar extended header of {size} bytes is too large")
        data = self._take(size, "extended header")
        self._skip(-size % BLOCK)
        return data

    def __next__(self) -> TarMember:
        if self._done:
            raise StopIteration
        skip = self._data_left + self._pad
        if skip:
            self._data_left = self._pad = 0
            if self._pos + skip <= len(self._buf):
                self._pos += skip
            else:
                self._skip(skip)
        pax: dict[str, str] | None = None
        long_name: str | None = None
        long_link: str | None = None
        while True:
            pos = self._pos
            if pos + BLOCK <= len(self._buf):  # in place: the common case
                block = self._buf[pos : pos + BLOCK]
                self._pos = pos + BLOCK
            else:
                block = self._take(BLOCK, "header")
            if not block:
                if pax is not None or long_name is not None or long_link is not None:
                    raise ArchiveProblem("tar archive is truncated (header)")
                # End of data without the two zero blocks: accepted, as tar and tarfile do.
                self._done = True
                raise StopIteration
            if block == ZERO_BLOCK:
                if pax is not None or long_name is not None or long_link is not None:
                    raise ArchiveProblem("tar extended header is not followed by a member")
                self._done = True
                raise StopIteration
            # Fields are sliced as needed (mode, mtime, linkname only on demand, by TarMember).
            magic = block[257:263]
            if magic not in _MAGICS:
                raise ArchiveProblem("not a tar archive (bad header magic)")
            chksum = block[148:156]
            try:
                stored = int(chksum.rstrip(b"\0 ") or b"0", 8)
            except ValueError:
                stored = _number(chksum, "checksum")
            # Header checksum: the byte sum with the checksum field counted as spaces. Adler-32's
            # low half is 1 + (byte sum mod 65521), far faster than sum() over 512 Python ints,
            # and exact when the sum stays below 65521: always for ASCII (512 * 127 = 65024),
            # and for any 256 bytes (256 * 255 = 65280).
            if block.isascii():
                total = (adler32(block) & 0xFFFF) - 1
            else:
                total = (adler32(block[:256]) & 0xFFFF) + (adler32(block[256:]) & 0xFFFF) - 2
            if stored != total - sum(chksum) + 256:
                _check_signed_checksum(block, stored)
            typeflag = block[156:157]
            size_field = block[124:136]
            try:
                size = int(size_field.rstrip(b"\0 ") or b"0", 8)
            except ValueError:
                size = _number(size_field, "size")
            if typeflag in _EXTENDED_TYPES:
                if size < 0:
                    raise ArchiveProblem("tar extended header has a negative size")
                data = self._extended_data(size)
                if typeflag == b"x" or typeflag == b"X":
                    pax = {**(pax or {}), **_parse_pax(data)}
                elif typeflag == b"L":
                    long_name = _text(data)
                elif typeflag == b"K":
                    long_link = _text(data)
                # b"g": global pax headers carry nothing we use (comments, charset).
                continue
            break

        self._count += 1
        if self._count > self._max_members:
            raise TooLarge(f"tar archive has more than {self._max_members} members")
        kind = _KINDS.get(typeflag)
        if kind is None:
            raise ArchiveProblem(f"unsupported tar member type {typeflag!r}")
        if long_name is not None:
            name = long_name
        else:
            end = block.find(0, 0, 100)
            name = block[: end if end >= 0 else 100].decode("utf-8", "surrogateescape")
            if block[345] and magic == b"ustar\0":
                name = _text(block[345:500]) + "/" + name  # POSIX ustar prefix field
        if pax:
            name = pax.get("path", name)
            if "size" in pax:
                digits = pax["size"]
                if not digits.isascii() or not digits.isdigit():
                    raise ArchiveProblem(f"pax header has a malformed size {digits!r}")
                size = int(digits)
        if size < 0:
            raise ArchiveProblem(f"tar member {name!r} has a negative size")
        if kind == "file" and name[-1:] == "/":
            kind = "directory"  # pre-POSIX directories: a regular-file typeflag and a slash
        path = normalize_member_path(name)
        if not path and kind != "directory":
            raise ArchiveProblem(f"tar member {name!r} has an empty path")
        # Links and directories normally have no data; if a header says otherwise, skip it.
        self._data_left = size
        self._pad = -size % BLOCK
        return _new_tuple(
            TarMember, (path, kind, size if kind == "file" else 0, block, pax, long_link)
        )

    def read_data(self) -> bytes:
        """All (remaining) data of the current member; call before advancing."""
        data = self._take(self._data_left, "member data")
        self._data_left = 0
        return data

    def iter_data(self, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The current member's data in chunks (for large members)."""
        while self._data_left:
            data = self._take(min(chunk, self._data_left), "member data")
            self._data_left -= len(data)
            yield data


# --- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One member to write. File data is `data`, or `chunks()` yielding exactly `size` bytes."""

    path: str
    kind: Literal["file", "directory", "symlink", "hardlink"]
    mode: int = 0o644
    mtime: int = 0
    data: bytes | None = None
    size: int = 0
    chunks: Callable[[], Iterable[bytes]] | None = None
    linkname: str = ""

    @property
    def data_size(self) -> int:
        if self.kind != "file":
            return 0
        return len(self.data) if self.data is not None else self.size


_TYPEFLAGS: Final = {"file": b"0", "directory": b"5", "symlink": b"2", "hardlink": b"1"}


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _pax_record(key: str, value: str) -> bytes:
    body = b" " + key.encode() + b"=" + value.encode("utf-8", "surrogateescape") + b"\n"
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length += 1
    return str(length).encode() + body


def _split_ustar_name(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) fitting the ustar 155/100 byte fields, or None."""
    if len(name) <= 100:
        return b"", name
    if len(name) > 256:
        return None
    # The prefix ends at a '/'; the longest prefix that fits leaves the shortest rest.
    cut = name.rfind(b"/", 0, 156)
    if cut > 0 and 0 < len(name) - cut - 1 <= 100:
        return name[:cut], name[cut + 1 :]
    return None


def _header_block(
    name: bytes,
    prefix: bytes,
    typeflag: bytes,
    mode: int,
    size: int,
    mtime: int,
    linkname: bytes,
) -> bytes:
    block = bytearray(BLOCK)
    block[0 : len(name)] = name
    block[100:108] = _octal(mode, 8)
    block[108:116] = _octal(0, 8)  # uid
    block[116:124] = _octal(0, 8)  # gid
    block[124:136] = _octal(size, 12)
    block[136:148] = _octal(mtime, 12)
    block[148:156] = b"        "
    block[156:157] = typeflag
    block[157 : 157 + len(linkname)] = linkname
    block[257:265] = b"ustar\x0000"
    # uname and gname stay empty; devmajor/devminor are zero.
    block[329:337] = _octal(0, 8)
    block[337:345] = _octal(0, 8)
    block[345 : 345 + len(prefix)] = prefix
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def encode_header(entry: TarEntry) -> bytes:
    """The header block(s) of `entry`: ustar, with a pax header first when a field does not fit.

    Owner is root (uid/gid 0, empty names) and the mode keeps permission bits only, so archives
    do not depend on who built them.
    """
    path = entry.path + "/" if entry.kind == "directory" else entry.path
    name_b = path.encode("utf-8", "surrogateescape")
    link_b = entry.linkname.encode("utf-8", "surrogateescape")
    size = entry.data_size
    mtime = min(max(int(entry.mtime), 0), MAX_OCTAL_11)
    pax: list[bytes] = []
    split = _split_ustar_name(name_b) if name_b.isascii() else None
    if split is None:
        pax.append(_pax_record("path", path))
        split = (b"", name_b[:100].decode("ascii", "replace").encode("ascii", "replace"))
    if not link_b.isascii() or len(link_b) > 100:
        pax.append(_pax_record("linkpath", entry.linkname))
        link_b = link_b[:100].decode("ascii", "replace").encode("ascii", "replace")
    if size > MAX_OCTAL_11:
        pax.append(_pax_record("size", str(size)))
    header = _header_block(
        split[1],
        split[0],
        _TYPEFLAGS[entry.kind],
        entry.mode & 0o7777,
        size if size <= MAX_OCTAL_11 else 0,
        mtime,
        link_b,
    )
    if not pax:
        return header
    records = b"".join(pax)
    pax_header = _header_block(b"././@PaxHeader", b"", b"x", 0o644, len(records), mtime, b"")
    return pax_header + records + bytes(-len(records) % BLOCK) + header


class TarWriter:
    """Write entries to `write(bytes)`; `close()` writes the end-of-archive blocks and padding."""

    __slots__ = ("_offset", "_write")

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self._offset = 0

    def _put(self, data: bytes) -> None:
        self._write(data)
        self._offset += len(data)

    def add(self, entry: TarEntry) -> None:
        self._put(encode_header(entry))
        if entry.kind != "file":
            return
        if entry.data is not None:
            if entry.data:
                self._put(entry.data)
            written = len(entry.data)
        else:
            written = 0
            if entry.chunks is not None:
                for chunk in entry.chunks():
                    written += len(chunk)
                    if written > entry.size:
                        break
                    self._put(chunk)
            if written != entry.size:
                raise ArchiveProblem(
                    f"{entry.path} changed while being archived ({written} != {entry.size} bytes)"
                )
        pad = -written % BLOCK
        if pad:
            self._put(bytes(pad))

    def close(self) -> None:
        end = 2 * BLOCK
        end += -(self._offset + end) % RECORD
        self._put(bytes(end))


def archive_size(entries: Iterable[TarEntry]) -> int:
    """The exact number of bytes `TarWriter` writes for these entries (for zstd's content size)."""
    total = 0
    for entry in entries:
        size = entry.data_size
        total += len(encode_header(entry)) + size + (-size % BLOCK)
    total += 2 * BLOCK
    return total + (-total % RECORD)
