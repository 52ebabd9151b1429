"""Hostile payloads: `verify_artifact` (and so every upload) refuses each, quickly and within
bounded memory, while `read_artifact` alone accepts most of them."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from stockyard.package import Limits, read_artifact, verify_artifact, write_artifact
from stockyard.package.verify import resolves_outside
from stockyard.types.errors import InvalidArtifact, SizeLimitExceeded, UnsafeArchive

from .builders import STEM, all_members
from .hostile import HOSTILE, build

#: Shapes reading alone does not notice (the metadata is fine): only verify catches them.
READ_ACCEPTS = {
    "member with ..",
    "absolute member",
    "absolute symlink",
    "escaping symlink",
    "symlink chain",
    "write through symlink",
    "hard link outside",
    "absolute hard link",
    "hard link to nothing",
    "character device",
    "block device",
    "fifo",
    "missing payload",
    "payload not zstd",
    "members of another package",
    "info/ in the payload",
    "payload in info",
    "unsafe paths.json",
    "zstd bomb in the payload",
    "tar.bz2 cut in half",
    "index.json twice",
    "info/ after the payload",
    "tar.bz2 device",
}
UNSAFE = {
    "member with ..",
    "absolute member",
    "absolute symlink",
    "escaping symlink",
    "symlink chain",
    "write through symlink",
    "hard link outside",
    "absolute hard link",
    "hard link to nothing",
    "character device",
    "block device",
    "fifo",
    "unsafe paths.json",
    "tar.bz2 device",
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_verify_refuses_hostile_payloads(tmp_path: Path, case: str) -> None:
    path = build(case, tmp_path)
    if case in READ_ACCEPTS:
        read_artifact(path)  # the metadata alone looks fine: this is what uploads used to check
    started = time.process_time()
    report = verify_artifact(path, filename=path.name)
    cpu = time.process_time() - started
    assert not report.ok
    assert any(re.search(HOSTILE[case][1], p) for p in report.problems), report.problems
    assert cpu < 5, f"{case}: {cpu:.1f} s of CPU"
    with pytest.raises(InvalidArtifact) as raised:
        report.raise_for_problems()
    assert str(raised.value).startswith(f"{path.name}: ")
    if case in UNSAFE:
        assert isinstance(raised.value, UnsafeArchive)
    if "bomb" in case:
        assert isinstance(raised.value, SizeLimitExceeded)


def test_bz2_bomb_with_info_last_is_cut_short_when_reading(tmp_path: Path) -> None:
    """Reading alone used to decompress all 2 GiB (4.7 s of CPU) to find info/."""
    path = build("bz2 bomb, info last", tmp_path)
    assert path.stat().st_size < 16_000
    started = time.process_time()
    with pytest.raises(SizeLimitExceeded, match="limit"):
        read_artifact(path)
    assert time.process_time() - started < 2


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_valid_artifact_verifies_and_carries_its_metadata(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, all_members())
    report = verify_artifact(path)
    assert report.ok, report.problems
    report.raise_for_problems()
    assert report.metadata is not None
    assert report.metadata.sha256 == report.sha256
    assert report.metadata == read_artifact(path)


def test_ratio_budget(tmp_path: Path) -> None:
    limits = Limits(max_ratio=10, ratio_allowance=1000, max_total_bytes=1 << 20)
    assert limits.stream_budget(50) == 1500
    assert limits.stream_budget(10**9) == 1 << 20


@pytest.mark.parametrize(
    ("links", "path", "outside"),
    [
        ({"b": ".", "up": "b/.."}, "up", True),
        ({"a": "d1/d2", "x": "a/../../.."}, "x", True),
        ({"a": "d1/d2", "x": "a/../.."}, "x", False),
        ({"lib/l": "../share"}, "lib/l", False),
        ({"lib/l": "../../share"}, "lib/l", True),
        ({"loop": "loop2", "loop2": "loop"}, "loop", False),
        ({"abs": "/etc"}, "abs", True),
        ({"a": "b", "b": "c/../.."}, "a", True),
    ],
)
def test_resolves_outside(links: dict[str, str], path: str, outside: bool) -> None:
    assert resolves_outside(path, links) is outside
