"""Artifacts: structure through `stockyard.package`, info/ documents through our checkers.

The artifacts are built with conda-package-handling, the reference implementation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import conda_package_handling.api as api
import pytest

from stockyard.validate import validate_path

FORMATS = ["tar.bz2", "conda"]


def build(tmp_path: Path, fmt: str, *, filename: str = "demo-1.0-0", **info: Any) -> Path:
    """An artifact whose info/ files are `info` (name -> JSON value) over sane defaults."""
    src = tmp_path / "src"
    (src / "info").mkdir(parents=True, exist_ok=True)
    (src / "bin").mkdir(exist_ok=True)
    (src / "bin" / "demo").write_text("#!/bin/sh\n")
    files = {
        "index.json": {
            "name": "demo",
            "version": "1.0",
            "build": "0",
            "build_number": 0,
            "depends": ["python >=3.9"],
            "subdir": "noarch",
            "noarch": "generic",
            "timestamp": 1700000000000,
        },
        "paths.json": {
            "paths_version": 1,
            "paths": [{"_path": "bin/demo", "path_type": "hardlink", "size_in_bytes": 10}],
        },
        "about.json": {"summary": "a demo", "license": "MIT"},
        "link.json": {"package_metadata_version": 1, "noarch": {"type": "generic"}},
    }
    files.update({name.replace("_", ".", 1): value for name, value in info.items()})
    names = ["bin/demo"]
    for name, value in files.items():
        if value is None:
            continue
        (src / "info" / name).write_text(json.dumps(value))
        names.append(f"info/{name}")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    api.create(str(src), names, f"{filename}.{fmt}", out_folder=str(out))
    return out / f"{filename}.{fmt}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_valid_artifact(tmp_path: Path, fmt: str) -> None:
    report = validate_path(build(tmp_path, fmt, run_exports_json={"weak": ["demo >=1"]}))
    assert (report.kind, report.valid, report.problems, report.records) == ("artifact", True, [], 1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_about_and_link_problems_point_into_their_member(tmp_path: Path, fmt: str) -> None:
    artifact = build(
        tmp_path,
        fmt,
        about_json={"summary": 3, "channels": "conda-forge"},
        link_json={"noarch": {"type": "java"}},
    )
    report = validate_path(artifact)
    assert [p.pointer for p in report.problems] == [
        "info/about.json/channels",
        "info/about.json/summary",
        "info/link.json/noarch/type",
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_index_json_points_into_it(tmp_path: Path, fmt: str) -> None:
    index = {"name": "demo", "version": "1.0", "build": "0", "build_number": -1}
    [problem] = validate_path(build(tmp_path, fmt, index_json=index)).problems
    assert problem.pointer == "info/index.json/build_number"
    assert "-1" in problem.message or ">= 0" in problem.message


@pytest.mark.parametrize("fmt", FORMATS)
def test_filename_disagreeing_with_index_json(tmp_path: Path, fmt: str) -> None:
    report = validate_path(build(tmp_path, fmt, filename="demo-2.0-0"))
    assert not report.valid
    assert any("2.0" in p.message for p in report.problems)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_index_json(tmp_path: Path, fmt: str) -> None:
    report = validate_path(build(tmp_path, fmt, index_json=None))
    assert not report.valid
    assert any("index.json" in p.message for p in report.problems)


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_artifact_is_a_problem_not_a_traceback(tmp_path: Path, fmt: str) -> None:
    artifact = build(tmp_path, fmt)
    artifact.write_bytes(artifact.read_bytes()[: artifact.stat().st_size // 2])
    report = validate_path(artifact)
    assert not report.valid
    assert report.problems[0].message


def test_garbage_artifact(tmp_path: Path) -> None:
    artifact = tmp_path / "demo-1.0-0.conda"
    artifact.write_bytes(b"this is not a zip file")
    report = validate_path(artifact)
    assert not report.valid


@pytest.mark.parametrize("fmt", FORMATS)
def test_payload_not_matching_paths_json(tmp_path: Path, fmt: str) -> None:
    paths = {
        "paths_version": 1,
        "paths": [
            {"_path": "bin/demo", "sha256": "00" * 32, "size_in_bytes": 10},
            {"_path": "bin/missing", "sha256": "11" * 32, "size_in_bytes": 1},
        ],
    }
    report = validate_path(build(tmp_path, fmt, paths_json=paths))
    messages = [p.message for p in report.problems]
    assert "bin/demo: sha256 differs from info/paths.json" in messages
    assert "bin/missing is listed in info/paths.json but not in the payload" in messages
