"""read_artifact: metadata and hashes of both formats, compared with hashlib and with
conda-package-streaming / conda-package-handling as references."""

from __future__ import annotations

import hashlib
import json
import pickle
import tarfile
from pathlib import Path

import pytest
from conda_package_handling import api as cph
from conda_package_streaming.package_streaming import stream_conda_info

from stockyard.package import (
    ArtifactMetadata,
    Limits,
    PathFlags,
    read_artifact,
    verify_artifact,
    write_artifact,
)
from stockyard.package import read as read_module
from stockyard.types.errors import InvalidArtifact

from .builders import (
    INDEX,
    STEM,
    all_members,
    file_item,
    items_from,
    make_conda,
    make_tar,
    make_tar_bz2,
)

FORMATS = ["conda", "tar.bz2"]


def reference_info(path: Path) -> dict[str, bytes]:
    """info/ members as conda-package-streaming reads them."""
    out = {}
    for tar, member in stream_conda_info(str(path)):
        if member.isfile():
            out[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_metadata_and_hashes(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, all_members())
    meta = read_artifact(path)
    data = path.read_bytes()
    assert meta.filename == path.name
    assert meta.format == fmt
    assert meta.size == len(data)
    assert meta.sha256 == hashlib.sha256(data).hexdigest()
    assert meta.md5 == hashlib.md5(data).hexdigest()
    assert meta.index_json == INDEX  # unknown keys (custom_key) kept
    assert meta.about == {"summary": "A demo", "license": "MIT"}
    assert meta.run_exports == {"weak": ["demo >=1.2"]}
    assert meta.link == {"noarch": {"type": "python"}}
    assert meta.path_flags == PathFlags(text_prefix=True)
    assert meta.icon == b"\x89PNG fake icon"
    assert meta.recipe == {"info/recipe/meta.yaml": b"package:\n  name: demo\n"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_metadata_is_picklable(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, all_members())
    meta = read_artifact(path)
    again = pickle.loads(pickle.dumps(meta))
    assert again == meta
    assert isinstance(again, ArtifactMetadata)


def test_synthesized_channel_matches_reference(small_channel: list[Path]) -> None:
    assert any(p.name.endswith(".tar.bz2") for p in small_channel)
    for path in small_channel:
        meta = read_artifact(path)
        data = path.read_bytes()
        assert meta.sha256 == hashlib.sha256(data).hexdigest()
        assert meta.md5 == hashlib.md5(data).hexdigest()
        ref = reference_info(path)
        assert meta.index_json == json.loads(ref["info/index.json"])
        assert meta.about == json.loads(ref["info/about.json"])
        if "info/run_exports.json" in ref:
            assert meta.run_exports == json.loads(ref["info/run_exports.json"])
        else:
            assert meta.run_exports is None
        paths = json.loads(ref["info/paths.json"])["paths"]
        modes = {p.get("file_mode") for p in paths if p.get("prefix_placeholder")}
        assert meta.path_flags.text_prefix == ("text" in modes)
        assert meta.path_flags.binary_prefix == ("binary" in modes)
        names = {p["_path"] for p in paths}
        assert meta.path_flags.activate_d == any("etc/conda/activate.d/" in n for n in names)


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_packages_made_by_conda_package_handling(tmp_path: Path, fmt: str) -> None:
    source = tmp_path / "src"
    for name, data in all_members().items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    (source / "bin" / "demo-link").symlink_to("demo")
    cph.create(str(source), None, f"{STEM}.{fmt}", out_folder=str(tmp_path))
    meta = read_artifact(tmp_path / f"{STEM}.{fmt}")
    assert meta.index_json == INDEX
    assert meta.run_exports == {"weak": ["demo >=1.2"]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_large_files_take_the_streaming_path(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = all_members()
    members["share/demo/big.bin"] = bytes(range(256)) * 4096  # 1 MiB of payload
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, members, zstd_level=1, bz2_level=1)
    in_memory = read_artifact(path)
    monkeypatch.setattr(read_module, "IN_MEMORY_BYTES", 1000)
    streamed = read_artifact(path)
    assert streamed == in_memory
    assert streamed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_filename_argument_names_an_uploaded_temp_file(tmp_path: Path) -> None:
    path = tmp_path / f"{STEM}.conda"
    write_artifact(path, all_members())
    upload = tmp_path / "upload-1234.tmp"
    path.rename(upload)
    meta = read_artifact(upload, filename=f"{STEM}.conda")
    assert meta.filename == f"{STEM}.conda"
    with pytest.raises(InvalidArtifact, match=r"upload-1234\.tmp"):
        read_artifact(upload)  # the temp name is no artifact filename


def test_old_package_flags_from_files_and_has_prefix(tmp_path: Path) -> None:
    index = {**INDEX, "name": "old", "build": "0"}
    del index["noarch"]
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/files": b"bin/old\nbin/.old-pre-link.sh\nScripts/.old-pre-unlink.bat\n"
        b"etc/conda/deactivate.d/x.sh\n",
        "info/has_prefix": b'/opt/placeholder binary "lib/with space.so"\nbin/old\n',
        "bin/old": b"x",
    }
    path = tmp_path / "old-1.2.3-0.tar.bz2"
    write_artifact(path, members)
    flags = read_artifact(path).path_flags
    assert flags == PathFlags(
        binary_prefix=True, text_prefix=True, deactivate_d=True, pre_link=True, pre_unlink=True
    )


def test_link_scripts_from_paths_json(tmp_path: Path) -> None:
    index = {**INDEX, "name": "scripty"}
    paths = [
        {"_path": "bin/.scripty-post-link.sh", "path_type": "hardlink"},
        {"_path": "etc/conda/activate.d/scripty.sh", "path_type": "hardlink"},
        {"_path": "lib/x.so", "prefix_placeholder": "/p", "file_mode": "binary"},
    ]
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}).encode(),
    }
    path = tmp_path / f"scripty-{INDEX['version']}-{INDEX['build']}.conda"
    write_artifact(path, members)
    assert read_artifact(path).path_flags == PathFlags(
        binary_prefix=True, activate_d=True, post_link=True
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_oversized_icon_and_recipe_are_left_out(tmp_path: Path, fmt: str) -> None:
    members = all_members()
    members["info/icon.png"] = b"i" * 2000
    members["info/recipe/recipe.yaml"] = b"r" * 2000
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, members)
    meta = read_artifact(path, limits=Limits(max_icon_bytes=1000, max_recipe_bytes=1000))
    assert meta.icon is None
    assert set(meta.recipe) == {"info/recipe/meta.yaml"}


def test_tar_bz2_with_info_last_is_read(tmp_path: Path) -> None:
    items = [file_item("share/demo/a.txt", b"payload"), *items_from(all_members())]
    path = make_tar_bz2(tmp_path / f"{STEM}.tar.bz2", make_tar(items))
    assert read_artifact(path).index_json == INDEX


@pytest.mark.parametrize(
    "tar_format", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]
)
def test_reads_ustar_gnu_and_pax_headers(tmp_path: Path, tar_format: int) -> None:
    items = items_from(all_members())
    if tar_format != tarfile.USTAR_FORMAT:
        # Needs a GNU long-name or pax path extension; non-ASCII needs pax or GNU too.
        items.append(file_item("info/recipe/" + "deep/" * 40 + "fi\u00e9.txt", b"x"))
    info = [i for i in items if i[0].name.startswith("info/")]
    pkg = [i for i in items if not i[0].name.startswith("info/")]
    conda = make_conda(
        tmp_path / f"{STEM}.conda", make_tar(info, tar_format), make_tar(pkg, tar_format)
    )
    bz = make_tar_bz2(tmp_path / f"{STEM}.tar.bz2", make_tar(info + pkg, tar_format))
    for path in (conda, bz):
        assert read_artifact(path).index_json == INDEX


def test_reads_zip64_structures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Payloads over 4 GiB need zip64 records; make zipfile write them for a small file."""
    import zipfile

    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 16)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    members = all_members()
    info = items_from({k: v for k, v in members.items() if k.startswith("info/")})
    pkg = items_from({k: v for k, v in members.items() if not k.startswith("info/")})
    path = make_conda(tmp_path / f"{STEM}.conda", make_tar(info), make_tar(pkg))
    assert b"PK\x06\x06" in path.read_bytes()  # a zip64 end record was written
    monkeypatch.undo()
    meta = read_artifact(path)
    assert meta.index_json == INDEX
    assert verify_artifact(path).ok
    monkeypatch.setattr(read_module, "IN_MEMORY_BYTES", 100)
    assert read_artifact(path) == meta


@pytest.mark.parametrize("info_first", [True, False])
def test_tar_bz2_beyond_the_first_decompression_step(tmp_path: Path, info_first: bool) -> None:
    """info/ larger than one decompression step, and info/ after a large payload."""
    import os

    members = all_members()
    paths = [{"_path": f"share/f{i:06d}", "path_type": "hardlink"} for i in range(12000)]
    members["info/paths.json"] = json.dumps({"paths": paths, "paths_version": 1}).encode()
    payload = [file_item("share/random.bin", os.urandom(1 << 20))]
    items = items_from(members)
    tar = make_tar(items + payload if info_first else payload + items)
    path = make_tar_bz2(tmp_path / f"{STEM}.tar.bz2", tar)
    meta = read_artifact(path)
    assert meta.index_json == INDEX
    assert meta.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
