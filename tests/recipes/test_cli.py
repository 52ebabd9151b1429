"""The `stockyard recipe` commands end to end, on recorded PyPI data."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import yaml

from stockyard.cli.main import main
from tests.recipes.replay import ReplayTransport


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> ReplayTransport:
    import stockyard.recipes.pypi as pypi

    transport = ReplayTransport()
    real = pypi.new_http_client

    def client(_transport: httpx.BaseTransport | None = None) -> httpx.Client:
        return real(transport)

    monkeypatch.setattr(pypi, "new_http_client", client)
    monkeypatch.setattr("stockyard.recipes.update.new_http_client", client)
    return transport


def test_generate_pypi_writes_a_rendered_recipe(offline: ReplayTransport, tmp_path: Path) -> None:
    assert main(["recipe", "generate", "pypi", "rich==14.3.3", "-o", str(tmp_path)]) == 0
    document = yaml.safe_load((tmp_path / "recipe.yaml").read_text())
    assert document["context"]["version"] == "14.3.3"
    assert [o["package"]["name"] for o in document["outputs"]] == [
        "${{ name }}",
        "rich-with-jupyter",
    ]
    assert offline.missed == []


def test_generate_v0(offline: ReplayTransport, tmp_path: Path) -> None:
    args = ["recipe", "generate", "pypi", "click==8.3.2", "--format", "v0", "-o", str(tmp_path)]
    assert main(args) == 0
    assert (tmp_path / "meta.yaml").read_text().startswith('{% set name = "click" %}')


def test_errors_are_one_line(offline: ReplayTransport, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["recipe", "generate", "pypi", "rich==0.0.1", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error: rich has no release 0.0.1" in err and "hint:" in err
    assert list(tmp_path.iterdir()) == []
    assert main(["recipe", "generate", "pypi", "rich", "--format", "v2"]) == 1
    assert main(["recipe", "generate", "pypi", "==1.0"]) == 1


def test_update_command(offline: ReplayTransport, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "recipe.yaml"
    assert main(["recipe", "generate", "pypi", "rich==14.3.3", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["recipe", "update", str(path), "--json", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"new_version":"15.0.0"' in out and '"written":false' in out


@pytest.mark.skipif(os.environ.get("STOCKYARD_LIVE_PYPI") != "1", reason="STOCKYARD_LIVE_PYPI=1")
def test_live_pypi(tmp_path: Path) -> None:
    """Opt-in: the newest rich and zstandard from the real PyPI, rendered by rattler-build, and
    jsonpath-rw 1.4.0 (sdist only, setup.py): its metadata from setuptools in an isolated venv."""
    for name in ("rich", "zstandard", "jsonpath-rw==1.4.0"):
        assert main(["recipe", "generate", "pypi", name, "-o", str(tmp_path / name)]) == 0
