"""`stockyard recipe split`: the split layout, rendered, and built from a real tiny C library.

The build uses the machine's own C compiler and CMake (no compiler packages: conda-forge is not
reachable from the test machines), with rattler-build's environment isolation off so that the
build script finds them, and an empty local channel.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from stockyard.cli.main import main
from stockyard.recipes.errors import RecipeInvalid
from stockyard.recipes.rendercheck import render_recipe
from stockyard.recipes.split import split_document

LIBRARY_C = "int demo_answer(void) { return 42; }\n"
LIBRARY_H = "int demo_answer(void);\n"
TOOL_C = (
    '#include <stdio.h>\n#include "demo.h"\nint main(void) { printf("%d\\n", demo_answer()); }\n'
)
CMAKE = """cmake_minimum_required(VERSION 3.10)
project(demo C)
add_library(demo SHARED demo.c)
set_target_properties(demo PROPERTIES VERSION 1.0.0 SOVERSION 1 PUBLIC_HEADER demo.h)
add_library(demo_static STATIC demo.c)
set_target_properties(demo_static PROPERTIES OUTPUT_NAME demo)
add_executable(demo-answer tool.c)
target_link_libraries(demo-answer demo)
set_target_properties(demo-answer PROPERTIES INSTALL_RPATH "$ORIGIN/../lib")
install(TARGETS demo demo_static demo-answer
        LIBRARY DESTINATION lib ARCHIVE DESTINATION lib RUNTIME DESTINATION bin
        PUBLIC_HEADER DESTINATION include)
install(FILES demo.pc DESTINATION lib/pkgconfig)
"""
PKGCONFIG = "Name: demo\nDescription: demo\nVersion: 1.0.0\nLibs: -ldemo\n"
RECIPE = """schema_version: 1
context:
  version: "1.0.0"
package:
  name: demo
  version: ${{ version }}
source:
  path: src
build:
  number: 0
  script:
    - cmake -S . -B build -DCMAKE_INSTALL_PREFIX=$PREFIX -DCMAKE_BUILD_TYPE=Release
    - cmake --build build
    - cmake --install build
about:
  license: MIT
  summary: A tiny C library written by the test
"""


def _project(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    files = {"demo.c": LIBRARY_C, "demo.h": LIBRARY_H, "tool.c": TOOL_C, "CMakeLists.txt": CMAKE}
    for name, text in {**files, "demo.pc": PKGCONFIG}.items():
        (src / name).write_text(text)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    return tmp_path / "recipe.yaml"


def _split(tmp_path: Path) -> Path:
    original = _project(tmp_path)
    out = tmp_path / "split"
    assert main(["recipe", "split", str(original), "-o", str(out)]) == 0
    shutil.copytree(tmp_path / "src", out / "src")
    return out / "recipe.yaml"


def test_split_layout(tmp_path: Path) -> None:
    document = yaml.safe_load(_split(tmp_path).read_text())
    outputs = document["outputs"]
    assert outputs[0]["staging"] == {"name": "demo-build"}
    names = [o["package"]["name"] for o in outputs[1:]]
    assert names == ["libdemo", "libdemo-devel", "libdemo-static", "demo"]
    assert all(o["inherit"] == "demo-build" for o in outputs[1:])
    assert outputs[1]["requirements"]["run_exports"] == [
        '${{ pin_subpackage("libdemo", upper_bound="x") }}'
    ]
    assert all("package_contents" in o["tests"][0] for o in outputs[1:])


def test_split_renders(tmp_path: Path) -> None:
    rendered = render_recipe(_split(tmp_path))
    assert {r.name for r in rendered} == {"libdemo", "libdemo-devel", "libdemo-static", "demo"}


def test_split_refuses_multi_output() -> None:
    with pytest.raises(RecipeInvalid, match="outputs already"):
        split_document({"outputs": [{"package": {"name": "x"}}]})


def _files(artifact: Path) -> set[str]:
    with zipfile.ZipFile(artifact) as outer:
        payload = next(n for n in outer.namelist() if n.startswith("pkg-"))
        import io
        import tarfile

        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(outer.read(payload)))
        with tarfile.open(fileobj=data, mode="r|") as archive:
            return {member.name for member in archive}


@pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("cc") is None, reason="needs cmake and cc"
)
def test_split_build_puts_each_file_in_its_output(tmp_path: Path) -> None:
    from rattler_build import EnvironmentIsolation
    from rattler_build.stage0 import Stage0Recipe
    from rattler_build.tool_config import ToolConfiguration

    recipe_path = _split(tmp_path)
    channel = tmp_path / "empty-channel"
    (channel / "noarch").mkdir(parents=True)
    recipe = Stage0Recipe.from_file(recipe_path)
    results = recipe.run_build(
        output_dir=tmp_path / "out",
        channels=[str(channel)],
        env_isolation=EnvironmentIsolation.NONE,
        no_include_recipe=True,
        # Runs each output's package_contents tests too (a failing one fails the build).
        tool_config=ToolConfiguration(test_strategy="native"),
    )
    artifacts = {p.name.rsplit("-", 2)[0]: p for p in (tmp_path / "out").rglob("*.conda")}
    assert set(artifacts) == {"libdemo", "libdemo-devel", "libdemo-static", "demo"}, results
    contents = {name: _files(path) for name, path in artifacts.items()}
    assert {"lib/libdemo.so.1", "lib/libdemo.so.1.0.0"} <= contents["libdemo"]
    assert not any(f.startswith("include/") or f.endswith(".a") for f in contents["libdemo"])
    assert {"include/demo.h", "lib/libdemo.so", "lib/pkgconfig/demo.pc"} <= contents[
        "libdemo-devel"
    ]
    assert "lib/libdemo.so.1" not in contents["libdemo-devel"]
    assert contents["libdemo-static"] == {"lib/libdemo.a"}
    assert contents["demo"] == {"bin/demo-answer"}


def test_generate_split_libs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """`generate pypi --split-libs` (recorded zstandard): the split layout, rendered by the
    command's default --check, with the Python output and the extras output kept."""
    from tests.recipes.replay import ReplayTransport, replaying_client

    replay = ReplayTransport()
    monkeypatch.setattr("stockyard.recipes.pypi.new_http_client", replaying_client(replay))
    args = ["recipe", "generate", "pypi", "zstandard==0.25.0", "--split-libs", "--lib", "libzstd"]
    assert main([*args, "-o", str(tmp_path)]) == 0
    document = yaml.safe_load((tmp_path / "recipe.yaml").read_text())
    outputs = document["outputs"]
    assert outputs[0]["staging"] == {"name": "zstd-build"}
    assert "${{ compiler('c') }}" in outputs[0]["requirements"]["build"]
    names = [o["package"]["name"] for o in outputs[1:]]
    assert names == [
        "libzstd",
        "libzstd-devel",
        "libzstd-static",
        "${{ name }}",
        "zstandard-with-cffi",
    ]
    python = outputs[4]
    assert python["inherit"] == "zstd-build"
    assert "lib/python*/site-packages/**" in python["build"]["files"]
    assert python["requirements"]["run"][-1] == '${{ pin_subpackage("libzstd", exact=True) }}'
    assert python["tests"][0]["python"]["imports"] == ["zstandard"]
    assert "split with --split-libs" in (tmp_path / "recipe.yaml").read_text()
    capsys.readouterr()
    # A pure package has no library to split; v0 has no staging; --lib needs --split-libs.
    assert main(["recipe", "generate", "pypi", "rich==14.3.3", "--split-libs"]) == 1
    assert "rich is noarch: python" in capsys.readouterr().err
    assert main([*args, "--format", "v0"]) == 1
    assert "no v0 form" in capsys.readouterr().err
    assert main(["recipe", "generate", "pypi", "zstandard==0.25.0", "--lib", "libzstd"]) == 1
    assert replay.missed == []
