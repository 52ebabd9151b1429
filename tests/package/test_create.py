"""write_artifact / create_from_directory: reproducible, conda-compatible, atomic."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard
from conda_package_handling import api as cph

from stockyard.package import create_from_directory, read_artifact, write_artifact
from stockyard.types.errors import StockyardError

from .builders import INDEX, STEM, all_members
from .trees import snapshot, write_tree

FORMATS = ["conda", "tar.bz2"]


def tar_members(path: Path) -> list[tarfile.TarInfo]:
    """Every tar member with tarfile, info tarball first for a .conda."""
    if path.name.endswith(".tar.bz2"):
        with tarfile.open(path) as tar:
            return tar.getmembers()
    out = []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        for name in sorted(names, key=lambda n: not n.startswith("info-")):
            if name.endswith(".tar.zst"):
                data = zstandard.ZstdDecompressor().stream_reader(zf.read(name)).read()
                with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                    out.extend(tar.getmembers())
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_input_gives_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    members = all_members()
    reordered = dict(reversed(list(members.items())))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_artifact(tmp_path / "a" / f"{STEM}.{fmt}", members)
    write_artifact(tmp_path / "b" / f"{STEM}.{fmt}", reordered)
    first = (tmp_path / "a" / f"{STEM}.{fmt}").read_bytes()
    assert first == (tmp_path / "b" / f"{STEM}.{fmt}").read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_members_are_normalized(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, all_members(), links={"bin/demo-link": "demo"})
    members = tar_members(path)
    names = [m.name for m in members]
    info = [n for n in names if n.startswith("info/")]
    assert names[: len(info)] == sorted(info)  # info/ first, sorted
    assert names[len(info) :] == sorted(names[len(info) :])
    for member in members:
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == INDEX["timestamp"] // 1000
    by_name = {m.name: m for m in members}
    assert by_name["bin/demo"].mode == 0o755
    assert by_name["info/index.json"].mode == 0o644
    assert by_name["bin/demo-link"].issym()
    assert by_name["bin/demo-link"].linkname == "demo"


def test_conda_layout(tmp_path: Path) -> None:
    path = tmp_path / f"{STEM}.conda"
    write_artifact(path, all_members())
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == [
            "metadata.json",
            f"pkg-{STEM}.tar.zst",
            f"info-{STEM}.tar.zst",
        ]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert zf.read("metadata.json") == b'{"conda_pkg_format_version": 2}'
        assert zf.testzip() is None
    pkg_names = [m.name for m in tar_members(path) if not m.name.startswith("info/")]
    assert pkg_names == ["bin/demo", "site-packages/demo/__init__.py"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_long_and_non_ascii_names_round_trip(tmp_path: Path, fmt: str) -> None:
    long_name = "share/" + "very-long-directory-name/" * 12 + "file.txt"
    members = {
        **all_members(),
        long_name: b"long",
        "share/caf\u00e9/\u00fcber.txt": b"utf8",
        "share/" + "x" * 150 + ".txt": b"long basename",
    }
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, members, links={"share/link": "../" + "y" * 120})
    out = tmp_path / "out"
    cph.extract(str(path), dest_dir=str(out))
    tree = snapshot(out)
    assert tree[long_name][1] == b"long"
    assert tree["share/caf\u00e9/\u00fcber.txt"][1] == b"utf8"
    assert tree["share/" + "x" * 150 + ".txt"][1] == b"long basename"
    assert tree["share/link"] == ("link", "../" + "y" * 120, None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_is_atomic(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(StockyardError, match=r"contains '\.\.'"):
        write_artifact(tmp_path / f"{STEM}.{fmt}", {**all_members(), "../escape": b"x"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_create_from_directory(tmp_path: Path, fmt: str) -> None:
    source = write_tree(tmp_path / "src", all_members(), links={"bin/demo-link": "demo"})
    (source / "share" / "empty").mkdir(parents=True)
    (source / "lib").mkdir()
    (source / "lib" / "readonly.txt").write_bytes(b"ro")
    (source / "lib" / "readonly.txt").chmod(0o444)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    path = create_from_directory(source, out_dir, fmt)  # type: ignore[arg-type]
    assert path == out_dir / f"{STEM}.{fmt}"
    again = create_from_directory(source, tmp_path, fmt)  # type: ignore[arg-type]
    assert path.read_bytes() == again.read_bytes()
    assert read_artifact(path).index_json == INDEX
    extracted = tmp_path / "extracted"
    cph.extract(str(path), dest_dir=str(extracted))
    assert snapshot(extracted) == snapshot(source)


def test_create_from_directory_needs_index_json(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(StockyardError, match=r"index\.json"):
        create_from_directory(tmp_path / "src", tmp_path, "conda")
