"""transmute against conda-package-handling: same extracted tree, both directions."""

from __future__ import annotations

from pathlib import Path

import pytest
from conda_package_handling import api as cph

from stockyard.package import extract_artifact, read_artifact, transmute, verify_artifact
from stockyard.types.errors import InvalidArtifact

from .builders import STEM, all_members
from .trees import snapshot, write_tree

DIRECTIONS = [("conda", "tar.bz2"), ("tar.bz2", "conda")]


def _source_tree(root: Path) -> Path:
    files = {
        **all_members(),
        "lib/libdemo.so.1.2": b"\x7fELF" + bytes(range(256)) * 40,
        "share/doc/" + "nested/" * 20 + "README": b"deep",
        "share/caf\u00e9.txt": b"utf8 name",
        "share/empty.txt": b"",
    }
    links = {
        "lib/libdemo.so": "libdemo.so.1.2",
        "lib/libdemo.so.1": "libdemo.so.1.2",
        "bin/demo-alias": "demo",
        "share/dangling": "does-not-exist",
    }
    tree = write_tree(root, files, links)
    (tree / "lib" / "private.txt").write_bytes(b"secret")
    (tree / "lib" / "private.txt").chmod(0o600)
    (tree / "share" / "empty-dir").mkdir()
    return tree


@pytest.fixture(params=DIRECTIONS, ids=["conda-to-bz2", "bz2-to-conda"])
def direction(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


def test_transmute_matches_conda_package_handling(
    tmp_path: Path, direction: tuple[str, str]
) -> None:
    src_fmt, to = direction
    source_tree = _source_tree(tmp_path / "tree")
    cph.create(str(source_tree), None, f"{STEM}.{src_fmt}", out_folder=str(tmp_path))
    src = tmp_path / f"{STEM}.{src_fmt}"
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    ours_dir.mkdir()
    theirs_dir.mkdir()
    ours = transmute(src, ours_dir, to)  # type: ignore[arg-type]
    errors = cph.transmute(str(src), f".{to}", out_folder=str(theirs_dir))
    assert not errors
    theirs = theirs_dir / f"{STEM}.{to}"
    assert ours == ours_dir / f"{STEM}.{to}"

    # Extract both results with the reference extractor and with ours: four identical trees,
    # all equal to the tree the source was built from.
    trees = {}
    for label, artifact in (("ours", ours), ("theirs", theirs)):
        cph.extract(str(artifact), dest_dir=str(tmp_path / f"cph-{label}"))
        extract_artifact(artifact, tmp_path / f"sy-{label}")
        trees[f"cph-{label}"] = snapshot(tmp_path / f"cph-{label}")
        trees[f"sy-{label}"] = snapshot(tmp_path / f"sy-{label}")
    expected = snapshot(source_tree)
    for label, tree in trees.items():
        assert tree == expected, label

    assert read_artifact(ours).index_json == read_artifact(src).index_json
    assert verify_artifact(ours).ok


def test_round_trip_is_stable(tmp_path: Path) -> None:
    tree = _source_tree(tmp_path / "tree")
    cph.create(str(tree), None, f"{STEM}.conda", out_folder=str(tmp_path))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    bz = transmute(tmp_path / f"{STEM}.conda", tmp_path / "a", "tar.bz2")
    back = transmute(bz, tmp_path / "b", "conda")
    again = transmute(back, tmp_path / "b", "tar.bz2")
    assert again.read_bytes() == bz.read_bytes()  # deterministic, nothing lost


def test_transmute_refuses_a_broken_source(tmp_path: Path) -> None:
    src = tmp_path / f"{STEM}.tar.bz2"
    src.write_bytes(b"BZh9 not really")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidArtifact, match=str(src)):
        transmute(src, out, "conda")
    assert list(out.iterdir()) == []
