"""`stockyard recipe update` on recorded releases: the delta comes from upstream metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stockyard.recipes.errors import RecipeInvalid
from stockyard.recipes.render_v1 import render_v1
from stockyard.recipes.rendercheck import render_recipe
from stockyard.recipes.update import update_recipe_file
from tests.recipes.conftest import FIXTURES


def test_generated_recipe_updated_with_upstream_delta(generate, replay, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "recipe.yaml"
    path.write_text(render_v1(generate("requests==2.32.3")))
    result = update_recipe_file(path, "2.33.1", transport=replay)
    document = result.to_json()
    changed = {c["name"]: (c["before"], c["after"]) for c in document["upstream_changes"]}
    assert changed, "requests 2.32.3 -> 2.33.1 changed requirements upstream"
    text = path.read_text()
    assert "version: 2.33.1" in text or "version: '2.33.1'" in text
    for name, (_before, after) in changed.items():
        if after is not None and "run" in [
            c["section"] for c in document["upstream_changes"] if c["name"] == name
        ]:
            assert after in text
    render_recipe(path)
    assert result.written and not document["license_changed"]


def test_feedstock_recipe_keeps_comments_and_other_outputs(replay, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "recipe.yaml"
    shutil.copy(FIXTURES / "feedstocks" / "rich" / "recipe.yaml", path)
    result = update_recipe_file(path, None, transport=replay)
    assert (result.old_version, result.new_version) == ("14.3.3", "15.0.0")
    text = path.read_text()
    assert text.startswith("# yaml-language-server")
    assert 'version: "15.0.0"' in text
    assert "edd07a4824c6b40189fb7ac9bc4c52536e9780fbbfbddf6f1e2502c31b068c36" in text
    assert "rich-with-jupyter" in text
    # The second source is GitHub's tarball: a human updates its hash.
    assert any("github.com" in item for item in result.needs_human)
    assert "# yaml-language-server" in path.read_text()
    body = result.pr_body()
    assert "# rich 14.3.3 -> 15.0.0" in body and "Needs a human" in body


def test_dry_run_and_json(replay, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "recipe.yaml"
    shutil.copy(FIXTURES / "feedstocks" / "click" / "recipe.yaml", path)
    before = path.read_text()
    result = update_recipe_file(path, "8.3.2", write=False, transport=replay)
    assert result.new_version == result.old_version
    assert "nothing to do" in result.pr_body()
    assert path.read_text() == before
    json.dumps(result.to_json())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("key: [unclosed", "not YAML"),
        ("- a\n- b\n", "not a mapping"),
        ('{% set version = "1" %}\npackage: {name: x}\n', "Jinja"),
    ],
)
def test_bad_recipe_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(RecipeInvalid, match=message):
        # As v1: auto would read the Jinja one as a v0 meta.yaml (test_update_v0.py).
        update_recipe_file(path, None, fmt="v1")
    assert path.read_text() == text


def test_unknown_jinja_variable(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(
        "context:\n  version: '1'\nsource:\n  url: https://x/${{ nope }}.tar.gz\n"
        "package:\n  name: ${{ nope }}\n"
    )
    with pytest.raises(RecipeInvalid, match="cannot evaluate"):
        update_recipe_file(path, None)
