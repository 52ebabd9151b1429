"""extract_artifact: same tree as conda-package-handling, into a new or empty directory only."""

from __future__ import annotations

from pathlib import Path

import pytest
from conda_package_handling import api as cph

from stockyard.package import extract_artifact, write_artifact
from stockyard.types.errors import Conflict

from .builders import STEM, all_members
from .trees import snapshot


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_extract_matches_conda_package_handling(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(
        path,
        all_members(),
        links={"bin/demo-link": "demo", "share/demo": "../site-packages/demo"},
        modes={"site-packages/demo/__init__.py": 0o600},
        directories=["share/empty"],
    )
    extract_artifact(path, tmp_path / "ours")
    cph.extract(str(path), dest_dir=str(tmp_path / "theirs"))
    ours = snapshot(tmp_path / "ours")
    assert ours == snapshot(tmp_path / "theirs")
    assert ours["site-packages/demo/__init__.py"][2] == 0o600
    assert ours["share/demo"] == ("link", "../site-packages/demo", None)
    assert ours["share/empty"] == ("dir", None, None)


def test_synthesized_artifacts_extract_like_the_reference(
    tmp_path: Path, small_channel: list[Path]
) -> None:
    for i, path in enumerate(small_channel[:20]):
        extract_artifact(path, tmp_path / f"ours{i}")
        cph.extract(str(path), dest_dir=str(tmp_path / f"theirs{i}"))
        assert snapshot(tmp_path / f"ours{i}") == snapshot(tmp_path / f"theirs{i}")


def test_extract_into_an_empty_directory(tmp_path: Path) -> None:
    path = tmp_path / f"{STEM}.conda"
    write_artifact(path, all_members())
    (tmp_path / "dest").mkdir()
    extract_artifact(path, tmp_path / "dest")
    assert (tmp_path / "dest" / "info" / "index.json").is_file()


def test_extract_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    path = tmp_path / f"{STEM}.conda"
    write_artifact(path, all_members())
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "keep.txt").write_text("mine")
    with pytest.raises(Conflict, match="not an empty directory"):
        extract_artifact(path, tmp_path / "dest")
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["dest", path.name])


def test_setuid_bits_are_not_honoured(tmp_path: Path) -> None:
    path = tmp_path / f"{STEM}.tar.bz2"
    write_artifact(path, all_members(), modes={"bin/demo": 0o4755})
    extract_artifact(path, tmp_path / "out")
    assert (tmp_path / "out" / "bin" / "demo").stat().st_mode & 0o7777 == 0o755
