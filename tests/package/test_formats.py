"""The tar and zip parsers on their own: agreement with tarfile, strictness, fuzzing."""

from __future__ import annotations

import contextlib
import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockyard.package._problems import ArchiveProblem, TooLarge, UnsafeMember
from stockyard.package.tar_format import (
    TarEntry,
    TarReader,
    TarWriter,
    archive_size,
    normalize_member_path,
)
from stockyard.package.zip_format import read_directory

from .builders import file_item, link_item, make_tar


def read_all(data: bytes) -> list[tuple[str, str, int, int, int, str, bytes]]:
    reader = TarReader(data, max_members=10_000)
    out = []
    for member in reader:
        body = reader.read_data() if member.kind == "file" else b""
        out.append(
            (
                member.path,
                member.kind,
                member.size,
                member.mode,
                member.mtime,
                member.linkname,
                body,
            )
        )
    return out


def tarfile_view(data: bytes) -> list[tuple[str, str, int, int, int, str, bytes]]:
    kinds = {tarfile.REGTYPE: "file", tarfile.DIRTYPE: "directory", tarfile.SYMTYPE: "symlink"}
    kinds[tarfile.LNKTYPE] = "hardlink"
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            body = tar.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
            out.append(
                (m.name.rstrip("/"), kinds[m.type], m.size if m.isfile() else 0, m.mode,
                 int(m.mtime), m.linkname, body)
            )  # fmt: skip
    return out


NAMES = [
    "a.txt",
    "dir/" + "x" * 99,
    "deep/" * 30 + "file",  # needs the ustar prefix or an extension
    "caf\u00e9/\u00fcber",
    "p/" + "y" * 120,  # basename longer than 100: needs an extension
]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reader_agrees_with_tarfile(fmt: int) -> None:
    items = [file_item(name, name.encode() * 3, 0o640) for name in NAMES]
    items.append(link_item("link", "z" * 150))
    items.append(link_item("hard", NAMES[0], tarfile.LNKTYPE))
    info = tarfile.TarInfo("emptydir")
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    items.append((info, None))
    data = make_tar(items, fmt)
    assert read_all(data) == tarfile_view(data)


def test_writer_output_reads_back_with_tarfile() -> None:
    entries = [TarEntry(path=name, kind="file", data=name.encode(), mtime=123) for name in NAMES]
    entries += [
        TarEntry(path="big-mode", kind="file", data=b"", mode=0o4755),
        TarEntry(path="sym", kind="symlink", linkname="../" + "q" * 200, mode=0o777),
        TarEntry(path="d", kind="directory", mode=0o700),
        TarEntry(path="h", kind="hardlink", linkname=NAMES[0]),
    ]
    buf = bytearray()
    writer = TarWriter(buf.extend)
    for entry in entries:
        writer.add(entry)
    writer.close()
    assert len(buf) == archive_size(entries)
    assert len(buf) % 10240 == 0
    assert read_all(bytes(buf)) == tarfile_view(bytes(buf))


def test_base256_numbers_and_signed_checksums() -> None:
    info = tarfile.TarInfo("neg-mtime")
    info.mtime = -1  # GNU writes this in base-256
    info.size = 3
    data = make_tar([(info, b"abc")], tarfile.GNU_FORMAT)
    assert read_all(data)[0][4] == -1
    # A checksum computed over signed chars (old tars) is accepted.
    header = bytearray(data[:512])
    header[0:1] = b"\xe9"  # a high byte in the name
    signed = sum(b - 256 if b > 127 else b for b in header[:148] + b" " * 8 + header[156:])
    header[148:156] = b"%06o\0 " % signed
    member = next(iter(TarReader(bytes(header) + data[512:], max_members=10)))
    assert member.path == "\udce9eg-mtime"  # not UTF-8: kept byte-exact (surrogateescape)


def test_strictness() -> None:
    data = bytearray(make_tar([file_item("a", b"x")]))
    with pytest.raises(ArchiveProblem, match="truncated"):
        read_all(bytes(data[:700]))
    bad_magic = bytearray(data)
    bad_magic[257:263] = b"nope!!"
    with pytest.raises(ArchiveProblem, match="magic"):
        read_all(bytes(bad_magic))
    many = make_tar([file_item(f"f{i}", b"") for i in range(5)])
    with pytest.raises(TooLarge):
        list(TarReader(many, max_members=3))
    sparse = make_tar([file_item("s", b"")])
    sparse = sparse[:156] + b"S" + sparse[157:]
    header = bytearray(sparse[:512])
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % sum(header)
    with pytest.raises(ArchiveProblem, match="unsupported tar member type"):
        read_all(bytes(header) + sparse[512:])


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a/b", "a/b"), ("./a//b/", "a/b"), ("./", ""), ("a/./b", "a/b")],
)
def test_normalize_member_path(name: str, expected: str) -> None:
    assert normalize_member_path(name) == expected


@pytest.mark.parametrize("name", ["/etc/passwd", "a/../../b", "..", "a/\0b"])
def test_normalize_member_path_refuses(name: str) -> None:
    with pytest.raises(UnsafeMember):
        normalize_member_path(name)


_SAMPLE_TAR = make_tar(
    [file_item(name, b"data") for name in NAMES] + [link_item("l", "x" * 120)], tarfile.PAX_FORMAT
)


@settings(max_examples=400, deadline=None)
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(_SAMPLE_TAR) - 1), st.integers(1, 255)), max_size=6
    ),
    cut=st.integers(0, len(_SAMPLE_TAR)),
)
def test_tar_reader_only_raises_archive_problems(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_SAMPLE_TAR)
    for where, mask in flips:
        data[where] ^= mask
    try:
        for member in (reader := TarReader(bytes(data[:cut]), max_members=100)):
            if member.kind == "file":
                reader.read_data()
            _ = (member.mode, member.mtime, member.linkname)
    except ArchiveProblem:
        pass


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_zip_directory_parser_only_raises_archive_problems(tail: bytes) -> None:
    data = b"PK\x03\x04" + tail + b"PK\x05\x06" + tail[-18:]
    with contextlib.suppress(ArchiveProblem):
        read_directory(lambda off, n: data[off : off + n], len(data))
