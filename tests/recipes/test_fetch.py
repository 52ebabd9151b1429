"""How `generate pypi` reads PyPI: which wheel stands for a compiled release, which requests it
sends (each once, the file reads together), relative file URLs, and the render check."""

from __future__ import annotations

from pathlib import Path

from stockyard.recipes import pypi, service
from stockyard.recipes.options import GenerateOptions
from stockyard.recipes.pypi import DistFile, PyPIClient, new_http_client, release_files
from stockyard.recipes.render_v1 import render_v1
from stockyard.recipes.rendercheck import PLATFORMS, render_recipe
from stockyard.recipes.upstream import representative_wheel
from tests.recipes.local_index import serve_index
from tests.recipes.replay import ReplayTransport


def _wheel(filename: str) -> DistFile:
    return DistFile(
        filename, f"https://files.example/{filename}", "0" * 64, 1, "bdist_wheel", False
    )


def test_newest_cpython_wheel_stands_for_a_compiled_release() -> None:
    """Tags compared as versions: cp314 beats cp39 (a string sort says otherwise), and a PyPy
    or free-threaded wheel never stands for the release when a CPython one exists."""
    linux = "manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    names = [
        f"demo-1.0-cp39-cp39-{linux}",
        f"demo-1.0-cp314-cp314-{linux}",
        f"demo-1.0-cp314-cp314t-{linux}",
        f"demo-1.0-pp311-pypy311_pp73-{linux}",
        "demo-1.0-cp314-cp314-win_amd64.whl",
        "demo-1.0-cp313-cp313-macosx_11_0_arm64.whl",
    ]
    chosen = representative_wheel([_wheel(name) for name in names])
    assert chosen is not None and chosen.filename == f"demo-1.0-cp314-cp314-{linux}"
    abi3 = ["demo-1.0-cp38-abi3-manylinux_2_28_x86_64.whl", f"demo-1.0-pp310-pypy310_pp73-{linux}"]
    chosen = representative_wheel([_wheel(name) for name in abi3])
    assert chosen is not None and chosen.filename == abi3[0]


def test_each_request_is_sent_once(generate, replay: ReplayTransport) -> None:  # type: ignore[no-untyped-def]
    """The project document, the wheel's `.metadata`, its tail and the sdist: nothing twice."""
    generate("rich==14.3.3")
    assert len(replay.requests) == len(set(replay.requests))
    kinds = sorted(key.rsplit("/", 1)[-1].split(" ")[0].split(".")[-1] for key in replay.requests)
    assert kinds == ["gz", "json", "metadata", "whl"]


def test_project_document_is_read_once_per_client() -> None:
    """`recipe update` asks for one project three times (newest, old, new release)."""
    replay = ReplayTransport()
    with new_http_client(replay) as http:
        client = PyPIClient(http)
        first = client.project("rich")
        assert client.project("Rich") is first
    assert replay.requests == ["https://pypi.org/pypi/rich/json"]


def test_relative_file_urls_are_resolved_for_the_release_read(tmp_path: Path) -> None:
    """A mirror listing files by relative URL (the local index does): the release's files come
    back absolute, against the document's URL, and the recipe is generated from them."""
    with serve_index(tmp_path) as (index, url):
        index.add_wheel("demo", "1.0", {"demo/__init__.py": ""}, ["attrs"])
        with new_http_client() as http:
            project = PyPIClient(http, url).project("demo")
        listed = project["releases"]["1.0"][0]["url"]
        assert not listed.startswith("http")  # left as the mirror wrote it
        files = release_files(project, "1.0")
        assert files[0].url.startswith(url.rstrip("/")) and files[0].url.endswith(".whl")
        recipe = service.generate_pypi("demo==1.0", GenerateOptions(), index_url=url)
    assert [dep.spec for dep in recipe.main.requirements.run][1:] == ["attrs"]


def test_meanwhile_runs_while_pypi_is_read(replay: ReplayTransport) -> None:
    called: list[str] = []
    recipe = service.generate_pypi(
        "click==8.3.2", GenerateOptions(), transport=replay, meanwhile=lambda: called.append("x")
    )
    assert called == ["x"] and recipe.version == "8.3.2"


def test_service_and_client_agree_on_pypi() -> None:
    """service keeps its own copy of the URL so that importing it does not import httpx."""
    assert service.PYPI_URL == pypi.PYPI_URL


def test_render_check_covers_every_platform(generate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "recipe.yaml"
    path.write_text(render_v1(generate("click==8.3.2")))
    rendered = render_recipe(path)
    assert {output.platform for output in rendered} == set(PLATFORMS)
