"""`stockyard package ...` through the real entry point."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from stockyard.cli.main import main
from stockyard.package import read_artifact, write_artifact

from .builders import INDEX, STEM, all_members


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / f"{STEM}.conda"
    write_artifact(path, all_members())
    return path


def test_inspect_human(artifact: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["package", "inspect", str(artifact)]) == 0
    out = capsys.readouterr().out
    assert "demo 1.2.3 py_0" in out
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() in out
    assert "python >=3.8" in out
    assert "text_prefix" in out


def test_inspect_json(artifact: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["package", "inspect", "--json", str(artifact)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert doc["index_json"] == INDEX
    assert doc["run_exports"] == {"weak": ["demo >=1.2"]}
    assert doc["path_flags"]["text_prefix"] is True
    assert doc["icon_bytes"] == len(all_members()["info/icon.png"])
    assert doc["recipe_bytes"] == {
        "info/recipe/meta.yaml": len(all_members()["info/recipe/meta.yaml"])
    }


def test_inspect_invalid_artifact_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / f"{STEM}.conda"
    bad.write_bytes(b"not a zip")
    assert main(["package", "inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"error: {bad}: truncated zip" in err
    assert "hint:" in err
    assert "Traceback" not in err


def test_transmute(artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["package", "transmute", str(artifact), "--to", "tar.bz2", "--out", str(out)]) == 0
    result = out / f"{STEM}.tar.bz2"
    assert str(result) in capsys.readouterr().out
    assert read_artifact(result).index_json == INDEX


def test_transmute_rejects_unknown_format(
    artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["package", "transmute", str(artifact), "--to", "zip"]) == 1
    assert "unknown format" in capsys.readouterr().err


def test_verify(artifact: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert main(["package", "verify", str(artifact), "--sha256", digest]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["package", "verify", str(artifact), "--sha256", "f" * 64]) == 1
    assert "expected " + "f" * 64 in capsys.readouterr().err


def test_verify_json_reports_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    members = all_members()
    members["bin/demo"] = b"changed"
    path = tmp_path / f"{STEM}.tar.bz2"
    write_artifact(path, members)
    assert main(["package", "verify", "--json", str(path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert any("bin/demo" in p for p in doc["problems"])


def test_extract(artifact: Path, tmp_path: Path) -> None:
    dest = tmp_path / "unpacked"
    assert main(["package", "extract", str(artifact), str(dest)]) == 0
    assert (dest / "site-packages" / "demo" / "__init__.py").read_bytes() == (
        all_members()["site-packages/demo/__init__.py"]
    )
    assert main(["package", "extract", str(artifact), str(dest)]) == 1  # not empty any more


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["package", "--help"]) == 0
    out = capsys.readouterr().out
    for command in ("inspect", "transmute", "verify", "extract"):
        assert command in out
