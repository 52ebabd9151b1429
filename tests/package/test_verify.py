"""verify_artifact: structure end to end, payload against paths.json, expected sha256."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from stockyard.package import verify_artifact, write_artifact
from stockyard.types.errors import HashMismatch

from .builders import STEM, all_members


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_valid_artifact_verifies(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, all_members())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    report = verify_artifact(path, sha256=digest.upper())
    assert report.ok, report.problems
    assert report.sha256 == digest
    assert report.files_checked == 2  # both paths.json entries
    assert report.members == len(all_members())


def test_wrong_sha256_raises(tmp_path: Path) -> None:
    path = tmp_path / f"{STEM}.conda"
    write_artifact(path, all_members())
    with pytest.raises(HashMismatch, match="expected " + "0" * 64):
        verify_artifact(path, sha256="0" * 64)


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_payload_disagreeing_with_paths_json_is_reported(tmp_path: Path, fmt: str) -> None:
    members = all_members()
    members["bin/demo"] = b"#!/bin/bash\n"  # paths.json still describes "#!/bin/sh\n"
    del members["site-packages/demo/__init__.py"]
    path = tmp_path / f"{STEM}.{fmt}"
    write_artifact(path, members)
    report = verify_artifact(path)
    assert not report.ok
    assert any("bin/demo: size is 12" in p for p in report.problems)
    assert any("bin/demo: sha256 differs" in p for p in report.problems)
    assert any("__init__.py is listed" in p for p in report.problems)


def test_corrupt_payload_tarball_is_found(tmp_path: Path) -> None:
    """read_artifact never touches the payload of a .conda; verify must."""
    path = tmp_path / f"{STEM}.conda"
    members = all_members()
    members["share/big.bin"] = bytes(range(256)) * 64
    write_artifact(path, members)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"pkg-{STEM}.tar.zst")
        start = info.header_offset + 30 + len(info.filename)
    data = bytearray(path.read_bytes())
    data[start + info.compress_size // 2] ^= 0x55
    path.write_bytes(bytes(data))
    report = verify_artifact(path)
    assert not report.ok
    assert any("pkg-" in p for p in report.problems), report.problems


def test_old_package_without_paths_json(tmp_path: Path) -> None:
    members = {k: v for k, v in all_members().items() if k != "info/paths.json"}
    path = tmp_path / f"{STEM}.tar.bz2"
    write_artifact(path, members)
    report = verify_artifact(path)
    assert report.ok
    assert report.files_checked == 0


def test_truncated_artifact_is_reported(tmp_path: Path) -> None:
    path = tmp_path / f"{STEM}.tar.bz2"
    write_artifact(path, all_members())
    path.write_bytes(path.read_bytes()[:-20])
    report = verify_artifact(path)
    assert not report.ok
    assert json.dumps(report.problems)
