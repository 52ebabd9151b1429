from __future__ import annotations

from pathlib import Path

import yaml

from stockyard.cli.main import main
from stockyard.recipes.lint import lint_document
from stockyard.recipes.render_v1 import render_v1
from tests.recipes.conftest import FIXTURES


def _messages(document: dict) -> list[str]:  # type: ignore[type-arg]
    return [str(finding) for finding in lint_document(document)]


def test_generated_recipes_are_clean(generate) -> None:  # type: ignore[no-untyped-def]
    for spec in ("rich==14.3.3", "zstandard==0.25.0", "click==8.3.2"):
        assert _messages(yaml.safe_load(render_v1(generate(spec)))) == []


def test_feedstock_is_clean() -> None:
    assert main(["recipe", "lint", str(FIXTURES / "feedstocks" / "rich" / "recipe.yaml")]) == 0


def test_findings() -> None:
    document = {
        "package": {"name": "demo"},
        "build": {"noarch": "python"},
        "requirements": {
            "build": ["${{ compiler('c') }}"],
            "host": ["python", "pip"],
            "run": ["python", "attrs ==22.1", {"if": 'match(python, "<3.11")', "then": "tomli"}],
        },
        "about": {"license": "BSD"},
    }
    messages = "\n".join(_messages(document))
    assert "'BSD' is not an SPDX expression" in messages
    assert "no license file" in messages
    assert "noarch: python but needs ${{ compiler('c') }}" in messages
    assert "python_min" in messages
    assert "exact pin 'attrs ==22.1'" in messages
    assert "Python selector in a noarch recipe" in messages
    assert "no tests" in messages


def test_lint_exit_code(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "recipe.yaml"
    path.write_text("package: {name: demo}\nabout: {license: MIT}\n")
    assert main(["recipe", "lint", str(path), "--json"]) == 1
    assert '"severity":"error"' in capsys.readouterr().out
