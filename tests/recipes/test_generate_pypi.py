"""`stockyard recipe generate pypi` on recorded real PyPI data, rendered by rattler-build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from stockyard.recipes.errors import UpstreamError, UpstreamNotFound
from stockyard.recipes.model import Recipe
from stockyard.recipes.pypi_recipe import GenerateOptions
from stockyard.recipes.render_v0 import render_v0
from stockyard.recipes.render_v1 import render_v1
from stockyard.recipes.rendercheck import render_recipe
from stockyard.recipes.sdist_build import BuildPolicy
from stockyard.recipes.service import generate_pypi

RECORDED = [
    "rich==14.3.3",
    "requests==2.33.1",
    "click==8.3.2",
    "typer==0.15.1",
    "msgspec==0.18.6",
    "zstandard==0.25.0",
    "httpx==0.28.1",
]


def _write(tmp_path: Path, recipe: Recipe) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(render_v1(recipe))
    return path


def _run(rendered: list[Any], name: str, platform: str) -> list[str]:
    output = next(r for r in rendered if r.name == name and r.platform == platform)
    return [str(spec) for spec in output.requirements.get("run", [])]


@pytest.mark.parametrize("spec", RECORDED)
def test_every_recorded_package_renders(generate, tmp_path: Path, spec: str) -> None:  # type: ignore[no-untyped-def]
    recipe = generate(spec, with_all=True)
    rendered = render_recipe(_write(tmp_path, recipe))
    assert {r.name for r in rendered} == {o.name for o in recipe.outputs}
    assert recipe.about["license"] != "LicenseRef-Unknown"
    assert recipe.source["sha256"] and len(recipe.source["sha256"]) == 64


def test_pure_package_is_noarch_with_python_min(generate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = generate("rich==14.3.3")
    main = recipe.main
    assert main.noarch == "python"
    assert [d.spec for d in main.requirements.host] == [
        "python ${{ python_min }}.*",
        "pip",
        "poetry-core >=1.0.0",
    ]
    assert [d.spec for d in main.requirements.run] == [
        "python >=${{ python_min }}",
        "markdown-it-py >=2.2.0",
        "pygments >=2.13.0,<3.0.0",
    ]
    assert main.tests[0]["python"]["imports"] == ["rich"]
    assert recipe.about["license"] == "MIT" and recipe.about["license_file"] == ["LICENSE"]
    assert recipe.source["url"].endswith("/r/rich/rich-${{ version }}.tar.gz")


def test_os_markers_become_selectors_and_virtual_packages(generate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = generate("click==8.3.2")
    rendered = render_recipe(_write(tmp_path, recipe))
    assert "colorama" in _run(rendered, "click", "win-64")
    assert "__win" in _run(rendered, "click", "win-64")
    assert "colorama" not in _run(rendered, "click", "linux-64")
    assert "__unix" in _run(rendered, "click", "linux-64")
    assert recipe.about["license"] == "BSD-3-Clause"


def test_compiled_package_gets_compilers_and_no_noarch(generate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = generate("zstandard==0.25.0")
    main = recipe.main
    assert main.noarch is None
    build = [d.spec for d in main.requirements.build]
    assert "${{ compiler('c') }}" in build and "${{ stdlib('c') }}" in build
    rendered = render_recipe(_write(tmp_path, recipe))
    assert all(r.noarch is None for r in rendered if r.name == "zstandard")
    # cffi's bound differs by Python: a compiled recipe keeps both lines with selectors.
    cffi = [d for d in main.requirements.host if d.name == "cffi"]
    assert {d.selector.v1() for d in cffi} == {'match(python, "<3.14")', 'match(python, ">=3.14")'}


def test_license_from_license_text_when_metadata_is_ambiguous(generate) -> None:  # type: ignore[no-untyped-def]
    # msgspec 0.18.6 says `License: BSD` and the BSD family classifier; its LICENSE is 3-clause.
    assert generate("msgspec==0.18.6").about["license"] == "BSD-3-Clause"


def test_extras_outputs(generate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = generate("msgspec==0.18.6", with_all=True)
    names = [o.name for o in recipe.outputs]
    assert names == ["msgspec", "msgspec-with-toml", "msgspec-with-yaml", "msgspec-with-all"]
    toml = recipe.outputs[1]
    assert toml.requirements.run[0].spec == '${{ pin_subpackage("msgspec", exact=True) }}'
    assert [d.spec for d in toml.requirements.run[1:]] == ["tomli-w", "tomli"]
    render_recipe(_write(tmp_path, recipe))


def test_extras_cep44_render_with_v3(generate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recipe = generate("rich==14.3.3", extras_as="cep44")
    assert len(recipe.outputs) == 1
    assert recipe.extra_groups == {"jupyter": ["ipywidgets >=7.5.1,<9"]}
    text = render_v1(recipe)
    assert yaml.safe_load(text)["requirements"]["extras"] == {"jupyter": ["ipywidgets >=7.5.1,<9"]}
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    render_recipe(path, v3=True)


def test_entry_points(generate) -> None:  # type: ignore[no-untyped-def]
    assert generate("httpx==0.28.1").main.entry_points == ["httpx = httpx:main"]


def test_v0_format(generate) -> None:  # type: ignore[no-untyped-def]
    text = render_v0(generate("click==8.3.2"))
    assert text.startswith('{% set name = "click" %}')
    assert "- colorama  # [win]" in text
    body = "\n".join(line for line in text.splitlines() if not line.startswith("{%"))
    document = yaml.safe_load(body.replace("{{", "<").replace("}}", ">"))
    assert document["build"]["noarch"] == "python"
    assert document["about"]["license"] == "BSD-3-Clause"


def test_unknown_project(generate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UpstreamNotFound):
        generate_pypi("rich==0.0.0-nope", GenerateOptions(), transport=_StaticPyPI({}))
    with pytest.raises(UpstreamNotFound):
        generate_pypi("no-such-project", GenerateOptions(), transport=_StaticPyPI({}))


class _StaticPyPI(httpx.BaseTransport):
    """A tiny fake index for the bad-input cases real PyPI cannot be relied on to show."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = self.routes.get(str(request.url))
        if body is None:
            return httpx.Response(404, request=request)
        if isinstance(body, bytes):
            return httpx.Response(200, content=body, request=request)
        return httpx.Response(200, json=body, request=request)


def _project(files: list[dict[str, Any]], version: str = "1.0") -> dict[str, Any]:
    return {"info": {"name": "demo", "version": version}, "releases": {version: files}}


def _file(filename: str, **extra: Any) -> dict[str, Any]:
    entry = {
        "filename": filename,
        "url": f"https://files.example/{filename}",
        "digests": {"sha256": "0" * 64},
        "size": 10,
        "packagetype": "sdist" if filename.endswith(".tar.gz") else "bdist_wheel",
    }
    return entry | extra


def test_yanked_release_is_refused() -> None:
    project = _project([_file("demo-1.0.tar.gz", yanked=True)])
    transport = _StaticPyPI({"https://pypi.org/pypi/demo/json": project})
    with pytest.raises(UpstreamError, match="yanked"):
        generate_pypi("demo==1.0", GenerateOptions(), transport=transport)


def _sdist(files: dict[str, str]) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"demo-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_sdist_only_with_dynamic_requirements_is_refused() -> None:
    sdist = _sdist(
        {
            "setup.py": "raise SystemExit('must never be run')",
            "PKG-INFO": "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        }
    )
    routes = {
        "https://pypi.org/pypi/demo/json": _project([_file("demo-1.0.tar.gz")]),
        "https://files.example/demo-1.0.tar.gz": sdist,
    }
    # With the isolated backend run turned off (tests/recipes/test_sdist_build.py runs it).
    with pytest.raises(UpstreamError, match="dynamically") as caught:
        generate_pypi(
            "demo==1.0",
            GenerateOptions(),
            transport=_StaticPyPI(routes),
            build=BuildPolicy(enabled=False),
        )
    assert "isolated environment" in caught.value.hint


def test_sdist_only_with_static_pyproject() -> None:
    pyproject = (
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "demo"\nversion = "1.0"\nlicense = "MIT"\n'
        'dependencies = ["attrs>=22", "colorama; os_name == \'nt\'"]\n'
        '[project.optional-dependencies]\nfast = ["orjson"]\n'
    )
    routes = {
        "https://pypi.org/pypi/demo/json": _project([_file("demo-1.0.tar.gz")]),
        "https://files.example/demo-1.0.tar.gz": _sdist({"pyproject.toml": pyproject}),
    }
    recipe = generate_pypi("demo==1.0", GenerateOptions(), transport=_StaticPyPI(routes))
    assert recipe.main.noarch == "python"
    assert [d.spec for d in recipe.main.requirements.host][2:] == ["hatchling"]
    run = [(d.spec, d.selector.v1()) for d in recipe.main.requirements.run]
    assert ("attrs >=22", "") in run and ("colorama", "win") in run
    assert [o.name for o in recipe.outputs] == ["demo", "demo-with-fast"]
    assert recipe.about["license"] == "MIT"


def test_circular_extras_are_cut(tmp_path: Path) -> None:
    metadata = (
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense: MIT\n"
        "Provides-Extra: a\nProvides-Extra: b\n"
        "Requires-Dist: demo[b]; extra == 'a'\nRequires-Dist: demo[a]; extra == 'b'\n"
        "Requires-Dist: attrs; extra == 'a'\n"
    )
    wheel = _wheel()
    routes = {
        "https://pypi.org/pypi/demo/json": _project(
            [_file("demo-1.0-py3-none-any.whl", size=len(wheel))]
        ),
        "https://files.example/demo-1.0-py3-none-any.whl.metadata": metadata.encode(),
        "https://files.example/demo-1.0-py3-none-any.whl": wheel,
    }
    recipe = generate_pypi("demo==1.0", GenerateOptions(), transport=_StaticPyPI(routes))
    assert [o.name for o in recipe.outputs] == ["demo", "demo-with-a", "demo-with-b"]
    assert any("cycle" in note for note in recipe.notes)
    render_recipe(_write(tmp_path, recipe))


def _wheel() -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("demo/__init__.py", "")
        archive.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\n")
    return out.getvalue()
