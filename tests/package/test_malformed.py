"""Malformed and hostile artifacts: every one gives a clear InvalidArtifact naming the file and the
problem, and nothing is written."""

from __future__ import annotations

import bz2
import contextlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockyard.package import (
    Limits,
    extract_artifact,
    read_artifact,
    verify_artifact,
    write_artifact,
)
from stockyard.types.errors import InvalidArtifact, SizeLimitExceeded, UnsafeArchive

from .builders import (
    INDEX,
    STEM,
    all_members,
    file_item,
    info_members,
    items_from,
    link_item,
    make_conda,
    make_tar,
    make_tar_bz2,
    special_item,
)

SMALL = Limits(max_info_bytes=1 << 20, max_total_bytes=4 << 20)


def _valid(tmp_path: Path, fmt: str) -> Path:
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, all_members())
    return path


def _index_variant(tmp_path: Path, raw: bytes, fmt: str = "conda") -> Path:
    members = info_members()
    members["info/index.json"] = raw
    if fmt == "conda":
        return make_conda(tmp_path / f"{STEM}.conda", make_tar(items_from(members)))
    return make_tar_bz2(tmp_path / f"{STEM}.tar.bz2", make_tar(items_from(members)))


def _truncated_zip(tmp_path: Path) -> Path:
    path = _valid(tmp_path, "conda")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _zip_without_info(tmp_path: Path) -> Path:
    return make_conda(tmp_path / f"{STEM}.conda", None)


def _unknown_format_version(tmp_path: Path) -> Path:
    return make_conda(
        tmp_path / f"{STEM}.conda",
        make_tar(items_from(info_members())),
        metadata=b'{"conda_pkg_format_version": 3}',
    )


def _dotdot_member(tmp_path: Path) -> Path:
    items = [*items_from(info_members()), file_item("info/../../evil.txt", b"x")]
    return make_conda(tmp_path / f"{STEM}.conda", make_tar(items))


def _absolute_member(tmp_path: Path) -> Path:
    items = [*items_from(info_members()), file_item("/tmp/evil.txt", b"x")]
    return make_tar_bz2(tmp_path / f"{STEM}.tar.bz2", make_tar(items))


def _zstd_bomb(tmp_path: Path) -> Path:
    # 2 MiB of zeros in a few hundred bytes, over SMALL.max_info_bytes.
    members = {**info_members(), "info/padding.bin": bytes(2 << 20)}
    return make_conda(tmp_path / f"{STEM}.conda", make_tar(items_from(members)))


def _zstd_bomb_without_declared_size(tmp_path: Path) -> Path:
    tar = make_tar(items_from({**info_members(), "info/padding.bin": bytes(2 << 20)}))
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False) as writer:
        writer.write(tar)
    path = tmp_path / f"{STEM}.conda"
    make_conda(path, out.getvalue(), compress=False)
    return path


def _bz2_bomb(tmp_path: Path) -> Path:
    members = {**info_members(), "info/padding.bin": bytes(2 << 20)}
    return make_tar_bz2(tmp_path / f"{STEM}.tar.bz2", make_tar(items_from(members)))


def _bz2_payload_bomb(tmp_path: Path) -> Path:
    # Payload first, so a reader must skip 8 MiB of zeros (over max_total_bytes) to find info/.
    items = [file_item("share/zeros.bin", bytes(8 << 20)), *items_from(info_members())]
    return make_tar_bz2(tmp_path / f"{STEM}.tar.bz2", make_tar(items))


def _not_json(tmp_path: Path) -> Path:
    return _index_variant(tmp_path, b"{not json")


def _not_object(tmp_path: Path) -> Path:
    return _index_variant(tmp_path, b'["a list"]', "tar.bz2")


def _missing_version(tmp_path: Path) -> Path:
    index = {k: v for k, v in INDEX.items() if k != "version"}
    return _index_variant(tmp_path, json.dumps(index).encode())


def _name_not_a_string(tmp_path: Path) -> Path:
    # The types of other keys are admission's to judge (tests/index/test_admission.py).
    return _index_variant(tmp_path, json.dumps({**INDEX, "name": ["pkg"]}).encode())


def _nested_too_deep(tmp_path: Path) -> Path:
    nested = "[" * 1000 + "]" * 1000
    raw = json.dumps({**INDEX, "extra": "X"}).replace('"X"', nested).encode()
    return _index_variant(tmp_path, raw, "tar.bz2")


def _nested_beyond_the_limit(tmp_path: Path) -> Path:
    nested = "[" * 40 + "]" * 40
    return _index_variant(
        tmp_path, json.dumps({**INDEX, "extra": "X"}).replace('"X"', nested).encode()
    )


def _not_utf8(tmp_path: Path) -> Path:
    return _index_variant(
        tmp_path, json.dumps({**INDEX, "extra": "X"}).encode().replace(b"X", b"\xff")
    )


def _filename_mismatch(tmp_path: Path) -> Path:
    return _index_variant(tmp_path, json.dumps({**INDEX, "version": "9.9"}).encode())


def _no_index(tmp_path: Path) -> Path:
    members = {k: v for k, v in info_members().items() if k != "info/index.json"}
    return make_tar_bz2(tmp_path / f"{STEM}.tar.bz2", make_tar(items_from(members)))


def _duplicate_index(tmp_path: Path) -> Path:
    items = [*items_from(info_members()), file_item("info/index.json", b"{}")]
    return make_conda(tmp_path / f"{STEM}.conda", make_tar(items))


def _corrupt_bz2(tmp_path: Path) -> Path:
    path = _valid(tmp_path, "tar.bz2")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _bad_checksum(tmp_path: Path) -> Path:
    tar = bytearray(make_tar(items_from(info_members())))
    tar[0] ^= 0x01  # first header's name changes, its checksum no longer matches
    return make_tar_bz2(tmp_path / f"{STEM}.tar.bz2", bytes(tar))


def _empty_file(tmp_path: Path) -> Path:
    path = tmp_path / f"{STEM}.conda"
    path.write_bytes(b"")
    return path


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / f"{STEM}.tar.bz2"
    path.write_bytes(os.urandom(3000))
    return path


def _fifo_index(tmp_path: Path) -> Path:
    items = [
        *items_from({k: v for k, v in info_members().items() if k != "info/index.json"}),
        special_item("info/index.json", tarfile.FIFOTYPE),
    ]
    return make_conda(tmp_path / f"{STEM}.conda", make_tar(items))


Case = tuple[Callable[[Path], Path], type[InvalidArtifact], str]
CASES: dict[str, Case] = {
    "truncated zip": (_truncated_zip, InvalidArtifact, "truncated zip"),
    "zip without info tarball": (_zip_without_info, InvalidArtifact, r"no info-\*\.tar\.zst"),
    "unknown format version": (
        _unknown_format_version,
        InvalidArtifact,
        "conda_pkg_format_version",
    ),
    "member with ..": (_dotdot_member, UnsafeArchive, r"contains '\.\.'"),
    "absolute member": (_absolute_member, UnsafeArchive, "absolute path"),
    "zstd bomb": (_zstd_bomb, SizeLimitExceeded, "limit"),
    "zstd bomb, no size": (_zstd_bomb_without_declared_size, SizeLimitExceeded, "limit"),
    "bz2 bomb in info": (_bz2_bomb, SizeLimitExceeded, "limit"),
    "bz2 bomb in payload": (_bz2_payload_bomb, SizeLimitExceeded, "limit"),
    "index.json not JSON": (_not_json, InvalidArtifact, "index.json is not valid JSON"),
    "index.json not an object": (_not_object, InvalidArtifact, "not a JSON object"),
    "index.json without version": (_missing_version, InvalidArtifact, "has no 'version'"),
    "index.json name not a string": (_name_not_a_string, InvalidArtifact, "not a string"),
    "index.json nested 1000 deep": (_nested_too_deep, InvalidArtifact, "nested more than 32"),
    "index.json nested 40 deep": (_nested_beyond_the_limit, InvalidArtifact, "nested more than"),
    "index.json not UTF-8": (_not_utf8, InvalidArtifact, "index.json is not valid JSON"),
    "filename mismatch": (_filename_mismatch, InvalidArtifact, "filename says"),
    "no index.json": (_no_index, InvalidArtifact, "no info/index.json"),
    "duplicate index.json": (_duplicate_index, InvalidArtifact, "appears twice"),
    "corrupt bz2": (_corrupt_bz2, InvalidArtifact, "bzip2|tar"),
    "bad tar checksum": (_bad_checksum, InvalidArtifact, "checksum"),
    "empty file": (_empty_file, InvalidArtifact, "truncated zip"),
    "garbage": (_garbage, InvalidArtifact, "bzip2"),
    "fifo index.json": (_fifo_index, InvalidArtifact, "not a regular file"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_read_gives_a_clear_error(tmp_path: Path, case: str) -> None:
    build, error, reason = CASES[case]
    path = build(tmp_path)
    with pytest.raises(error, match=reason) as info:
        read_artifact(path, limits=SMALL)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.hint


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_extract_writes_nothing(tmp_path: Path, case: str) -> None:
    build, _error, _reason = CASES[case]
    source = tmp_path / "in"
    source.mkdir()
    path = build(source)
    out = tmp_path / "out"
    out.mkdir()
    try:
        extract_artifact(path, out / "pkg", limits=SMALL)
    except InvalidArtifact as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        # Only metadata problems (index.json contents, format version) leave the archive itself
        # extractable; structural ones must not.
        assert case.startswith(("index.json", "filename", "no index", "duplicate", "fifo")), case
        return
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_verify_reports_instead_of_raising(tmp_path: Path, case: str) -> None:
    build, _error, _reason = CASES[case]
    report = verify_artifact(build(tmp_path), limits=SMALL)
    assert not report.ok
    assert report.problems


# --- extraction safety ----------------------------------------------------------------------------


def _extract_fails(tmp_path: Path, items: list, match: str) -> None:  # type: ignore[type-arg]
    path = make_tar_bz2(
        tmp_path / f"{STEM}.tar.bz2", make_tar([*items_from(info_members()), *items])
    )
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeArchive, match=match):
        extract_artifact(path, out / "pkg")
    assert list(out.iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_symlink_to_absolute_path_is_refused(tmp_path: Path) -> None:
    _extract_fails(tmp_path, [link_item("lib/escape", "/etc")], "absolute path")


def test_symlink_leaving_the_prefix_is_refused(tmp_path: Path) -> None:
    _extract_fails(tmp_path, [link_item("lib/escape", "../../evil")], "outside the package")


def test_writing_through_a_symlink_is_refused(tmp_path: Path) -> None:
    items = [link_item("lib/dir", "."), file_item("lib/dir/evil", b"x")]
    _extract_fails(tmp_path, items, "through a symbolic link")


def test_chain_of_symlinks_leaving_the_prefix_is_refused(tmp_path: Path) -> None:
    # Each link looks harmless alone: b -> "." and up -> "b/.." (lexically "."),
    # but on disk "up" resolves to the parent of the package.
    items = [link_item("b", "."), link_item("up", "b/..")]
    _extract_fails(tmp_path, items, "resolves outside")


def test_hardlink_outside_is_refused(tmp_path: Path) -> None:
    _extract_fails(
        tmp_path, [link_item("lib/h", "../../etc/passwd", tarfile.LNKTYPE)], r"contains '\.\.'"
    )


def test_hardlink_to_unknown_member_is_refused(tmp_path: Path) -> None:
    _extract_fails(tmp_path, [link_item("lib/h", "lib/nothing", tarfile.LNKTYPE)], "hard link")


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_devices_and_fifos_are_refused(tmp_path: Path, kind: bytes) -> None:
    _extract_fails(tmp_path, [special_item("lib/dev", kind)], "device or fifo")


def test_member_count_is_bounded(tmp_path: Path) -> None:
    items = [file_item(f"share/f{i}", b"") for i in range(50)]
    path = make_tar_bz2(
        tmp_path / f"{STEM}.tar.bz2", make_tar([*items_from(info_members()), *items])
    )
    with pytest.raises(SizeLimitExceeded, match="members"):
        extract_artifact(path, tmp_path / "out", limits=Limits(max_members=20))
    assert not (tmp_path / "out").exists()


# --- fuzzing --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("valid")
    return {fmt: _valid(tmp, fmt).read_bytes() for fmt in ("conda", "tar.bz2")}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["conda", "tar.bz2"]),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=4),
)
def test_truncations_and_bit_flips_only_raise_invalid_artifact(
    valid_bytes: dict[str, bytes],
    tmp_path_factory: pytest.TempPathFactory,
    fmt: str,
    cut: float,
    flips: list[tuple[float, int]],
) -> None:
    data = bytearray(valid_bytes[fmt])
    for where, mask in flips:
        data[min(int(where * len(data)), len(data) - 1)] ^= mask
    data = data[: max(0, int(cut * len(data)))] if cut < 0.98 else data
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / f"{STEM}.{fmt}"
    path.write_bytes(bytes(data))
    with contextlib.suppress(InvalidArtifact):
        read_artifact(path)
    out = tmp / "out"
    try:
        extract_artifact(path, out)
    except InvalidArtifact:
        assert not out.exists()
    report = verify_artifact(path)
    assert report.ok or report.problems


def test_bz2_concatenated_streams_are_read(tmp_path: Path) -> None:
    tar = make_tar(items_from(all_members()))
    path = tmp_path / f"{STEM}.tar.bz2"
    path.write_bytes(bz2.compress(tar[:10240]) + bz2.compress(tar[10240:]))
    assert read_artifact(path).index_json == INDEX
    assert verify_artifact(path).ok
