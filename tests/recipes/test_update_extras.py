"""`stockyard recipe update` keeps extras current: changed lines of an extra land in its
`{name}-with-{extra}` output, a new upstream extra becomes a new output (or CEP 44 group), and
`{name}-with-all` pins it. Two releases of a tiny package are served by a real local index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from stockyard.recipes.pypi_recipe import GenerateOptions
from stockyard.recipes.render_v0 import render_v0
from stockyard.recipes.render_v1 import render_v1
from stockyard.recipes.rendercheck import render_recipe
from stockyard.recipes.service import generate_pypi
from stockyard.recipes.update import update_recipe_file
from stockyard.recipes.update_v0 import V0Editor
from tests.recipes.local_index import serve_index

FILES = {"demo/__init__.py": ""}
PIN = '${{ pin_subpackage("demo", exact=True) }}'


def _extras(name: str) -> dict[str, list[str]]:
    return {
        "fast": ["orjson>=3"],
        "yaml": ["pyyaml>=6", "colorama; sys_platform == 'win32'"],
        "all": [f"{name}[fast,yaml]"],
        "docs": ["sphinx"],  # tooling: never an output
    }


@pytest.fixture
def index(tmp_path: Path) -> Iterator[str]:
    with serve_index(tmp_path / "index") as (local, url):
        local.add_wheel("demo", "1.0", FILES, ("attrs>=20",), {"fast": ["orjson"]})
        local.add_wheel("demo", "2.0", FILES, ("attrs>=20",), _extras("demo"))
        # A package whose extras only start with 2.0.
        local.add_wheel("plain", "1.0", {"plain/__init__.py": ""}, ("attrs>=20",))
        local.add_wheel("plain", "2.0", {"plain/__init__.py": ""}, ("attrs>=20",), _extras("plain"))
        yield url


def _recipe(
    url: str, path: Path, fmt: str = "v1", spec: str = "demo==1.0", **options: object
) -> Path:
    recipe = generate_pypi(spec, GenerateOptions(**options), index_url=url)  # type: ignore[arg-type]
    path.write_text(render_v1(recipe) if fmt == "v1" else render_v0(recipe))
    return path


def _outputs(path: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    document = yaml.safe_load(path.read_text())
    return {o["package"]["name"]: o for o in document["outputs"]}


def test_new_extra_becomes_an_output(index: str, tmp_path: Path) -> None:
    path = _recipe(index, tmp_path / "recipe.yaml", with_all=True)
    result = update_recipe_file(path, "2.0", index_url=index)
    outputs = _outputs(path)
    assert list(outputs) == ["${{ name }}", "demo-with-fast", "demo-with-all", "demo-with-yaml"]
    assert outputs["demo-with-fast"]["requirements"]["run"] == [PIN, "orjson >=3"]
    yaml_output = outputs["demo-with-yaml"]
    assert yaml_output["build"] == {"noarch": "generic"}
    run = yaml_output["requirements"]["run"]
    assert run[:2] == [PIN, "pyyaml >=6"] and {"if": "win", "then": "colorama"} in run
    # Built once per OS family like a noarch main output with OS-specific lines.
    assert {"if": "win", "then": "__win"} in run and {"if": "unix", "then": "__unix"} in run
    assert yaml_output["tests"] == outputs["demo-with-fast"]["tests"]
    assert outputs["demo-with-all"]["requirements"]["run"][-1] == (
        '${{ pin_subpackage("demo-with-yaml", exact=True) }}'
    )
    assert "added output demo-with-yaml (new extra 'yaml' upstream)" in result.edits
    assert any("demo-with-yaml: review it" in item for item in result.needs_human)
    assert not any("docs" in edit for edit in result.edits)
    assert [c.to_json() for c in result.upstream if c.extra] == [
        {
            "name": "orjson",
            "before": "orjson",
            "after": "orjson >=3",
            "section": "run",
            "extra": "fast",
        }
    ]
    assert "- run [fast]: `orjson` -> `orjson >=3`" in result.pr_body()
    rendered = render_recipe(path)
    assert {r.name for r in rendered} >= {"demo-with-yaml", "demo-with-all"}


def test_single_output_recipe_becomes_multi_output(index: str, tmp_path: Path) -> None:
    path = _recipe(index, tmp_path / "recipe.yaml", spec="plain==1.0")
    assert "outputs" not in yaml.safe_load(path.read_text())
    update_recipe_file(path, "2.0", index_url=index)
    document = yaml.safe_load(path.read_text())
    assert document["recipe"] == {"name": "${{ name }}", "version": "${{ version }}"}
    assert document["build"] == {"number": 0}
    outputs = _outputs(path)
    assert list(outputs) == ["${{ name }}", "plain-with-fast", "plain-with-yaml", "plain-with-all"]
    assert outputs["plain-with-all"]["requirements"]["run"] == [
        '${{ pin_subpackage("plain", exact=True) }}',
        '${{ pin_subpackage("plain-with-fast", exact=True) }}',
        '${{ pin_subpackage("plain-with-yaml", exact=True) }}',
    ]
    main = outputs["${{ name }}"]
    assert main["build"]["noarch"] == "python" and "attrs >=20" in main["requirements"]["run"]
    render_recipe(path)


def test_recipe_without_extras_outputs_gets_none_added(index: str, tmp_path: Path) -> None:
    path = _recipe(index, tmp_path / "recipe.yaml", extras_as="none")
    result = update_recipe_file(path, "2.0", index_url=index)
    assert "outputs" not in yaml.safe_load(path.read_text())
    assert any(item.startswith("new extras upstream: yaml, all") for item in result.needs_human)


def test_cep44_groups(index: str, tmp_path: Path) -> None:
    path = _recipe(index, tmp_path / "recipe.yaml", extras_as="cep44")
    update_recipe_file(path, "2.0", index_url=index)
    groups = yaml.safe_load(path.read_text())["requirements"]["extras"]
    assert groups["fast"] == ["orjson >=3"]
    assert groups["yaml"] == ["pyyaml >=6", "colorama"]
    render_recipe(path, v3=True)


def test_v0_multi_output(index: str, tmp_path: Path) -> None:
    path = _recipe(index, tmp_path / "meta.yaml", fmt="v0", with_all=True)
    update_recipe_file(path, "2.0", index_url=index)
    text = path.read_text()
    assert "        - orjson >=3\n" in text
    assert "  - name: demo-with-yaml\n" in text
    assert "        - colorama  # [win]\n" in text
    assert "        - '{{ pin_subpackage(\"demo-with-yaml\", exact=True) }}'\n" not in text
    assert '        - {{ pin_subpackage("demo-with-yaml", exact=True) }}\n' in text
    # The result is still a meta.yaml Stockyard (and conda-build's Jinja) can read.
    editor = V0Editor(path)
    names = [o["name"] for o in editor.document["outputs"]]
    assert names == ["demo", "demo-with-fast", "demo-with-all", "demo-with-yaml"]


def test_v0_single_output_asks_a_human(index: str, tmp_path: Path) -> None:
    path = _recipe(index, tmp_path / "meta.yaml", fmt="v0", spec="plain==1.0")
    result = update_recipe_file(path, "2.0", index_url=index)
    item = next(i for i in result.needs_human if i.startswith("new extra 'yaml'"))
    assert "  - name: plain-with-yaml" in item and "pyyaml >=6" in item
    assert "plain-with-yaml" not in path.read_text()


def test_generated_noarch_extra_with_os_lines_gets_virtual_packages(
    index: str, tmp_path: Path
) -> None:
    recipe = generate_pypi("demo==2.0", GenerateOptions(with_all=True), index_url=index)
    extra = next(o for o in recipe.outputs if o.name == "demo-with-yaml")
    run = [(d.spec, d.selector.v1()) for d in extra.requirements.run]
    assert ("colorama", "win") in run and ("__win", "win") in run and ("__unix", "unix") in run
    path = tmp_path / "recipe.yaml"
    path.write_text(render_v1(recipe))
    rendered = render_recipe(path)
    win = next(r for r in rendered if r.name == "demo-with-yaml" and r.platform == "win-64")
    assert "colorama" in win.requirements["run"] and "__win" in win.requirements["run"]
