"""Bounded decompression (zstd, bzip2) and file readers shared by the artifact functions.

Every decompressor here produces output in bounded steps and counts it, so a small hostile input
can never make us allocate more than the caller's limit.
"""

from __future__ import annotations

import bz2
import os
import threading
from collections.abc import Callable, Iterator
from typing import Final

import zstandard

from stockyard.package._problems import ArchiveProblem, TooLarge

CHUNK: Final = 1 << 20
_MAX_STEP: Final = 4 << 20
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"

# A zstd decompression context costs ~10 µs to create, as much as decompressing a whole info
# tarball; one per thread is reused. This is a cache, not state: results never depend on it.
_local = threading.local()


class StreamSource:
    """A `ByteSource` over a producer `produce(n) -> bytes` (b"" at the end), e.g. a decompressor.

    `limit` bounds the total bytes the producer may yield: a compression bomb stops here.
    """

    __slots__ = ("_buf", "_chunk", "_limit", "_produce", "_produced", "_what")

    def __init__(
        self,
        produce: Callable[[int], bytes],
        *,
        limit: int,
        what: str = "archive",
        chunk: int = 1 << 18,
    ) -> None:
        self._produce = produce
        self._buf = bytearray()
        self._limit = limit
        self._produced = 0
        self._chunk = chunk
        self._what = what

    def _more(self, want: int) -> bool:
        # Never ask for more than _MAX_STEP at once: the producer allocates what is asked for.
        data = self._produce(min(max(want, self._chunk), _MAX_STEP))
        if not data:
            return False
        self._produced += len(data)
        if self._produced > self._limit:
            raise TooLarge(
                f"{self._what} decompresses to more than the limit of {self._limit} bytes"
            )
        self._buf += data
        return True

    def read(self, n: int) -> bytes:
        buf = self._buf
        while len(buf) < n and self._more(n - len(buf)):
            pass
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def skip(self, n: int) -> int:
        skipped = 0
        while skipped < n:
            buf = self._buf
            if not buf and not self._more(n - skipped):
                break
            take = min(len(self._buf), n - skipped)
            del self._buf[:take]
            skipped += take
        return skipped

    @property
    def produced(self) -> int:
        return self._produced


def _dctx() -> zstandard.ZstdDecompressor:
    try:
        dctx: zstandard.ZstdDecompressor = _local.dctx
    except AttributeError:
        dctx = _local.dctx = zstandard.ZstdDecompressor()
    return dctx


def zstd_decompress(data: bytes, limit: int, what: str) -> bytes:
    """Decompress a whole zstd member held in memory, refusing more than `limit` output bytes.

    Fast path: a single frame that declares its content size (as conda's writers make).
    Anything else goes through the bounded streaming reader.
    """
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError:
        raise ArchiveProblem(f"{what} is not zstd data") from None
    if declared > limit:
        raise TooLarge(f"{what} declares {declared} bytes, over the limit of {limit}")
    if declared >= 0:
        dobj = _dctx().decompressobj()
        try:
            out = dobj.decompress(data)
        except zstandard.ZstdError as exc:
            raise ArchiveProblem(f"{what} is corrupt zstd data ({exc})") from None
        if not dobj.eof:
            raise ArchiveProblem(f"{what} is truncated (incomplete zstd frame)")
        rest = dobj.unused_data
        if not rest:
            return out
        if not rest.startswith(_ZSTD_MAGIC):
            raise ArchiveProblem(f"{what} has garbage after its zstd frame")
    source = zstd_stream(data, limit, what)
    out = source.read(limit + 1)
    return out


def check_zstd_frames(read_at: Callable[[int, int], bytes], size: int, what: str) -> None:
    """Walk the frame and block headers (RFC 8878) without decompressing: the data must be a
    sequence of complete frames. The streaming decompressor stops silently at a truncated frame,
    so this is how truncation is detected; it reads 3 bytes per 128 KiB block.
    """
    pos = 0
    frames = 0
    while pos < size:
        head = read_at(pos, 18)
        if len(head) < 8:
            raise ArchiveProblem(f"{what} is truncated (zstd frame header)")
        magic = int.from_bytes(head[:4], "little")
        if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame
            pos += 8 + int.from_bytes(head[4:8], "little")
            continue
        if magic != 0xFD2FB528:
            raise ArchiveProblem(f"{what} is not zstd data (bad frame magic)")
        fhd = head[4]
        if fhd & 0x08:
            raise ArchiveProblem(f"{what} is corrupt zstd data (reserved bit set)")
        single = fhd & 0x20
        fcs_flag = fhd >> 6
        header = 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3]
        header += (1 if single else 0, 2, 4, 8)[fcs_flag]
        pos += header
        while True:
            block = read_at(pos, 3)
            if len(block) < 3:
                raise ArchiveProblem(f"{what} is truncated (incomplete zstd frame)")
            value = int.from_bytes(block, "little")
            kind = (value >> 1) & 3
            if kind == 3:
                raise ArchiveProblem(f"{what} is corrupt zstd data (reserved block type)")
            pos += 3 + (1 if kind == 1 else value >> 3)
            if value & 1:
                break
        if fhd & 0x04:
            pos += 4  # content checksum
        frames += 1
    if pos != size or not frames:
        raise ArchiveProblem(f"{what} is truncated (incomplete zstd frame)")


def zstd_stream(data: bytes | RangeFile, limit: int, what: str) -> StreamSource:
    """A `StreamSource` over zstd data (bytes or a `RangeFile`), bounded by `limit`."""
    if isinstance(data, RangeFile):
        check_zstd_frames(data.read_at, data.size, what)
    else:
        check_zstd_frames(lambda off, n: data[off : off + n], len(data), what)
    # zstandard reads from any object with read(n); its stubs only admit IO[bytes] and buffers.
    reader = _dctx().stream_reader(
        data,  # type: ignore[arg-type]
        read_size=CHUNK,
        read_across_frames=True,
    )

    def produce(n: int) -> bytes:
        try:
            out = reader.read(n)
        except zstandard.ZstdError as exc:
            raise ArchiveProblem(f"{what} is corrupt or truncated zstd data ({exc})") from None
        return out

    return StreamSource(produce, limit=limit, what=what)


class Bz2Producer:
    """`produce(n)` over bzip2 data arriving as chunks; handles multi-stream files (pbzip2)."""

    __slots__ = ("_d", "_raw", "_what")

    def __init__(
        self,
        raw_chunks: Iterator[bytes],
        what: str,
        decompressor: bz2.BZ2Decompressor | None = None,
    ) -> None:
        self._raw = raw_chunks
        self._d = decompressor if decompressor is not None else bz2.BZ2Decompressor()
        self._what = what

    def __call__(self, n: int) -> bytes:
        try:
            return self._produce(n)
        except OSError as exc:  # "Invalid data stream"
            raise ArchiveProblem(f"{self._what} is corrupt bzip2 data ({exc})") from None
        except EOFError:
            raise ArchiveProblem(f"{self._what} is corrupt bzip2 data") from None

    def _produce(self, n: int) -> bytes:
        d = self._d
        while True:
            if d.eof:
                rest = d.unused_data
                if not rest:
                    rest = next(self._raw, b"")
                    while rest == b"" and (nxt := next(self._raw, None)) is not None:
                        rest = nxt
                    if not rest:
                        return b""
                d = self._d = bz2.BZ2Decompressor()
                out = d.decompress(rest, n)
            elif d.needs_input:
                chunk = next(self._raw, None)
                if chunk is None:
                    raise ArchiveProblem(f"{self._what} is truncated (bzip2 stream ends early)")
                out = d.decompress(chunk, n)
            else:
                out = d.decompress(b"", n)
            if out:
                return out


def bz2_stream(raw_chunks: Iterator[bytes], limit: int, what: str) -> StreamSource:
    return StreamSource(Bz2Producer(raw_chunks, what), limit=limit, what=what)


def read_whole(fd: int, size: int) -> bytes:
    """Read a file of known size with as few system calls as possible."""
    data = os.read(fd, size)
    if len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.read(fd, size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class RangeFile:
    """A read-only file-like view of bytes [start, end) of a file descriptor (via pread)."""

    __slots__ = ("_end", "_fd", "_pos", "_start")

    def __init__(self, fd: int, start: int, end: int) -> None:
        self._fd = fd
        self._start = self._pos = start
        self._end = end

    @property
    def size(self) -> int:
        return self._end - self._start

    def read_at(self, offset: int, n: int) -> bytes:
        """Bytes at `offset` relative to the start of the range (clipped to the range)."""
        n = min(n, self._end - self._start - offset)
        return os.pread(self._fd, n, self._start + offset) if n > 0 else b""

    def read(self, n: int = -1) -> bytes:
        left = self._end - self._pos
        if n < 0 or n > left:
            n = left
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data


def file_chunks(fd: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """Sequential chunks of a file from its current offset."""
    while True:
        data = os.read(fd, chunk)
        if not data:
            return
        yield data
