"""`stockyard recipe update` on v0 meta.yaml files: Jinja, selectors and comments kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stockyard.cli.main import main
from stockyard.recipes.errors import RecipeInvalid
from stockyard.recipes.render_v0 import render_v0
from stockyard.recipes.update import Change, UpdateResult, update_recipe_file
from stockyard.recipes.update_v0 import V0Editor
from tests.recipes.conftest import FIXTURES
from tests.recipes.replay import replaying_client


def test_feedstock_meta_yaml(replay, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "meta.yaml"
    original = FIXTURES / "feedstocks" / "requests" / "meta.yaml"
    shutil.copy(original, path)
    result = update_recipe_file(path, "2.33.1", transport=replay)
    text = path.read_text()
    before = original.read_text().splitlines()
    after = text.splitlines()
    changed = {(b, a) for b, a in zip(before, after, strict=True) if b != a}
    assert changed == {
        ('{% set version = "2.32.4" %}', '{% set version = "2.33.1" %}'),
        (
            "  sha256: 27d0316682c8a29834d3264820024b62a36942083d52caf2f14c0591336d3422",
            "  sha256: 18817f8c57c6263968bc123d237e3b8b08ac046f5456bd1e307ee8f4250d3517",
        ),
        ("    - setuptools", "    - setuptools >=61.0"),
        ("    - certifi >=2017.4.17", "    - certifi >=2023.5.7"),
        ("    - urllib3 >=1.21.1,<3", "    - urllib3 >=1.26,<3"),
    }
    assert result.written and result.needs_human == []
    assert "requests/run: 'certifi >=2017.4.17' -> 'certifi >=2023.5.7'" in result.edits


def test_generated_v0_multi_output(generate, replay, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "meta.yaml"
    path.write_text(render_v0(generate("requests==2.32.3")))
    result = update_recipe_file(path, "2.33.1", transport=replay)
    text = path.read_text()
    assert '{% set version = "2.33.1" %}' in text
    assert "- certifi >=2023.5.7" in text
    assert "- wheel\n" not in text  # upstream dropped it from build-system.requires
    assert "requests/host: removed 'wheel'" in result.edits
    # The extras outputs' Jinja pins are never touched.
    assert text.count("'{{ pin_subpackage(\"requests\", exact=True) }}'") == 2


META = """{% set name = "demo" %}
{% set version = "1.0" %}
{% set build = 3 %}

package:
  name: {{ name|lower }}
  version: {{ version }}

source:
  - url: https://pypi.org/packages/source/d/demo/demo-{{ version }}.tar.gz
    sha256: aaaa
  - url: https://github.com/demo/demo/archive/v{{ version }}.tar.gz
    sha256: bbbb

build:
  number: {{ build }}

outputs:
  - name: {{ name }}
    requirements:
      host:
        - python
        - pip
      run:
        - python
        - attrs >=20  # pinned by the maintainers
        - tomli  # [py<311]
        - six
  - name: demo-extra
    requirements:
      run:
        - {{ pin_subpackage(name, exact=True) }}
        - attrs >=20
"""


def _editor(tmp_path: Path) -> V0Editor:
    path = tmp_path / "meta.yaml"
    path.write_text(META)
    return V0Editor(path)


def test_requirement_edits_keep_selectors_and_comments(tmp_path: Path) -> None:
    editor = _editor(tmp_path)
    assert (editor.pypi_name(), editor.version(), editor.noarch_python()) == ("demo", "1.0", False)
    result = UpdateResult("demo", "1.0", "2.0")
    editor.apply_change(Change("attrs", "attrs >=20", "attrs >=23", "run"), result)
    editor.apply_change(Change("tomli", "tomli", "tomli >=2", "run"), result)
    editor.apply_change(Change("six", "six", None, "run"), result)
    editor.apply_change(Change("packaging", None, "packaging >=24", "run"), result)
    editor.apply_change(Change("hatchling", None, "hatchling", "host"), result)
    editor.reset_build_number()
    editor.set_version("2.0")
    text = editor.text()
    assert "        - attrs >=23  # pinned by the maintainers\n" in text
    assert "        - tomli >=2  # [py<311]\n" in text
    assert "six" not in text
    assert "        - tomli >=2  # [py<311]\n        - packaging >=24\n  - name: demo-extra" in text
    assert "        - pip\n        - hatchling\n" in text
    # The second output's line changes too; its Jinja pin does not.
    assert "        - {{ pin_subpackage(name, exact=True) }}\n        - attrs >=23\n" in text
    assert "{% set build = 0 %}" in text and '{% set version = "2.0" %}' in text
    assert "demo-extra/run: 'attrs >=20' -> 'attrs >=23'" in result.edits


def test_only_the_pypi_hash_is_replaced(tmp_path: Path) -> None:
    from stockyard.recipes.pypi import DistFile
    from stockyard.recipes.upstream import Release

    editor = _editor(tmp_path)
    sdist = DistFile("demo-2.0.tar.gz", "https://x/demo-2.0.tar.gz", "c" * 64, 1, "sdist", False)
    release = Release("demo", "2.0", [sdist], metadata=None, metadata_origin="")  # type: ignore[arg-type]
    result = UpdateResult("demo", "1.0", "2.0")
    editor.set_sha256(release, result)
    assert f"sha256: {'c' * 64}" in editor.text() and "sha256: bbbb" in editor.text()
    assert any("github.com" in item for item in result.needs_human)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{% set name = 'x' %}\npackage:\n  name: x\n", "no {% set version"),
        ('{% set version = "1" %}\n{% for x in %}\n', "cannot evaluate it as a meta.yaml"),
        ('{% set version = "1" %}\npackage: [unclosed\n', "cannot evaluate it as a meta.yaml"),
        ('{% set version = "1" %}\n- a list\n', "top level is not a mapping"),
    ],
)
def test_bad_meta_yaml(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "meta.yaml"
    path.write_text(text)
    with pytest.raises(RecipeInvalid, match=message):
        V0Editor(path)
    assert path.read_text() == text


def test_cli_format_v0_and_auto(replay, tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("stockyard.recipes.update.new_http_client", replaying_client(replay))
    path = tmp_path / "recipe-file"  # neither name says the format: the content does
    shutil.copy(FIXTURES / "feedstocks" / "requests" / "meta.yaml", path)
    assert main(["recipe", "update", str(path), "--to", "2.33.1", "--json", "--dry-run"]) == 0
    assert '"new_version":"2.33.1"' in capsys.readouterr().out
    assert main(["recipe", "update", str(path), "--to", "2.33.1", "--format", "v1"]) == 1
    assert "uses Jinja statements" in capsys.readouterr().err
    assert main(["recipe", "update", str(path), "--format", "v2"]) == 1
