"""Requirements of sdist-only releases from their PEP 517 backend, run in an isolated build env.

A real local index on 127.0.0.1 (tests/recipes/local_index.py) serves a tiny sdist whose
backend ships in-tree (`backend-path`), so no build backend is downloaded: its only build
requirement, `demo-helper`, is a wheel the test writes and the same index serves; pip installs
it into the fresh environment. The backend computes the requirements at build time and writes
a witness (its process id and `sys.prefix`) so the tests can tell where it ran.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from stockyard.cli.main import main
from stockyard.recipes.errors import UpstreamError
from stockyard.recipes.pypi_recipe import GenerateOptions
from stockyard.recipes.sdist_build import BuildPolicy
from stockyard.recipes.service import generate_pypi
from tests.recipes.local_index import LocalIndex, serve_index

HELPER = '''
import sys


def requirements():
    """Computed when the backend runs, as a setup.py would."""
    found = ["attrs>=22"]
    if sys.version_info >= (3, 0):
        found.append("packaging>=23")
    return found
'''

BACKEND = """
import json
import os
import sys
import time

NAME = "demo-1.0.dist-info"


def _witness():
    path = os.environ.get("DEMO_WITNESS")
    if path:
        with open(path, "w") as stream:
            json.dump({"pid": os.getpid(), "prefix": sys.prefix}, stream)


def _dist_info(directory):
    import demo_helper  # installed from the local index into the isolated environment

    lines = ["Metadata-Version: 2.1", "Name: demo", "Version: 1.0", "Summary: A demo",
             "License: MIT", "Provides-Extra: fast"]
    lines += [f"Requires-Dist: {line}" for line in demo_helper.requirements()]
    lines += ['Requires-Dist: orjson; extra == "fast"',
              "Requires-Dist: colorama; sys_platform == 'win32'"]
    target = os.path.join(directory, NAME)
    os.makedirs(target)
    with open(os.path.join(target, "METADATA"), "w") as stream:
        stream.write("\\n".join(lines) + "\\n")
    with open(os.path.join(target, "entry_points.txt"), "w") as stream:
        stream.write("[console_scripts]\\ndemo = demo.cli:main\\n")
    with open(os.path.join(target, "top_level.txt"), "w") as stream:
        stream.write("demo\\n")
    return NAME


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _witness()
    mode = os.environ.get("DEMO_MODE", "")
    if mode == "broken":
        raise RuntimeError("broken sdist: cannot compute the requirements")
    if mode == "hang":
        time.sleep(600)
    return _dist_info(metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("the metadata hook is enough")
"""

# A backend without prepare_metadata_for_build_wheel: build's fallback builds the wheel.
WHEEL_ONLY_BACKEND = """
import os
import zipfile


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "late-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        archive.writestr("late/__init__.py", "")
        archive.writestr("late-1.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\\nName: late\\nVersion: 1.0\\n"
                         "License: MIT\\nRequires-Dist: idna>=3\\n")
        archive.writestr("late-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nTag: py3-none-any\\n")
        archive.writestr("late-1.0.dist-info/RECORD", "")
    return name
"""


def _pyproject(requires: list[str], backend: str = "demo_backend") -> str:
    return (
        f"[build-system]\nrequires = {json.dumps(requires)}\n"
        f'build-backend = "{backend}"\nbackend-path = ["_backend"]\n'
    )


SETUP_PY = "raise SystemExit('setup.py must never run in the test process')\n"


@pytest.fixture
def index(tmp_path: Path) -> Iterator[tuple[LocalIndex, str]]:
    with serve_index(tmp_path / "index") as (local, url):
        local.add_wheel("demo-helper", "1.0", {"demo_helper/__init__.py": HELPER})
        local.add_sdist(
            "demo",
            "1.0",
            {
                "pyproject.toml": _pyproject(["demo-helper"]),
                "PKG-INFO": "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
                "setup.py": SETUP_PY,
                "_backend/demo_backend.py": BACKEND,
                "demo/__init__.py": "",
            },
        )
        yield local, url


def test_cli_builds_metadata_in_isolation(
    index: tuple[LocalIndex, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = index
    witness = tmp_path / "witness.json"
    monkeypatch.setenv("DEMO_WITNESS", str(witness))
    out = tmp_path / "recipe"
    # Default --check: rattler-build renders the recipe for three platforms first.
    assert (
        main(["recipe", "generate", "pypi", "demo==1.0", "--index-url", url, "-o", str(out)]) == 0
    )
    ran = json.loads(witness.read_text())
    assert ran["pid"] != os.getpid()
    assert Path(ran["prefix"]).resolve() != Path(sys.prefix).resolve()  # a fresh venv
    assert not Path(ran["prefix"]).exists()  # removed afterwards
    text = (out / "recipe.yaml").read_text()
    assert "computed by the sdist's build backend" in text
    document = yaml.safe_load(text)
    main_output, extra = document["outputs"]
    run = main_output["requirements"]["run"]
    assert "attrs >=22" in run and "packaging >=23" in run
    assert {"if": "win", "then": "colorama"} in run
    assert main_output["requirements"]["host"][2:] == ["demo-helper"]
    assert main_output["build"]["noarch"] == "python"
    assert main_output["build"]["python"]["entry_points"] == ["demo = demo.cli:main"]
    assert main_output["tests"][0]["python"]["imports"] == ["demo"]
    assert extra["package"]["name"] == "demo-with-fast"
    assert extra["requirements"]["run"][1:] == ["orjson"]
    assert document["about"]["license"] == "MIT"


def test_fallback_to_build_wheel(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index") as (local, url):
        local.add_sdist(
            "late",
            "1.0",
            {
                "pyproject.toml": _pyproject([], backend="late_backend"),
                "_backend/late_backend.py": WHEEL_ONLY_BACKEND,
            },
        )
        recipe = generate_pypi("late==1.0", GenerateOptions(), index_url=url)
    assert [d.spec for d in recipe.main.requirements.run] == [
        "python >=${{ python_min }}",
        "idna >=3",
    ]
    assert any("computed by the sdist's build backend" in note for note in recipe.notes)


def test_broken_backend_is_a_clear_error_and_writes_nothing(
    index: tuple[LocalIndex, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, url = index
    monkeypatch.setenv("DEMO_MODE", "broken")
    out = tmp_path / "recipe"
    assert (
        main(["recipe", "generate", "pypi", "demo==1.0", "--index-url", url, "-o", str(out)]) == 1
    )
    err = capsys.readouterr().err
    assert "demo-1.0.tar.gz: the build backend failed" in err
    assert "broken sdist: cannot compute the requirements" in err
    assert "--no-build-metadata" in err  # the hint
    assert not out.exists()


def test_hanging_backend_is_killed_at_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = tmp_path / "witness.json"
    monkeypatch.setenv("DEMO_WITNESS", str(witness))
    monkeypatch.setenv("DEMO_MODE", "hang")
    with serve_index(tmp_path / "index") as (local, url):
        # No build requirement: the hook starts right after the venv is created.
        files = {"pyproject.toml": _pyproject([]), "_backend/demo_backend.py": BACKEND}
        local.add_sdist("demo", "1.0", files)
        with pytest.raises(UpstreamError, match="did not finish within 5 s"):
            policy = BuildPolicy(timeout=5)
            generate_pypi("demo==1.0", GenerateOptions(), index_url=url, build=policy)
    if witness.exists():  # the hook had started: it was killed with its process group
        status = Path(f"/proc/{json.loads(witness.read_text())['pid']}/status")
        assert not status.exists() or "\nState:\tZ" in status.read_text()


def test_missing_build_requirement(tmp_path: Path) -> None:
    with serve_index(tmp_path / "index") as (local, url):
        local.add_sdist(
            "demo",
            "1.0",
            {
                "pyproject.toml": _pyproject(["no-such-backend>=1"]),
                "_backend/demo_backend.py": BACKEND,
            },
        )
        with pytest.raises(
            UpstreamError, match="installing the build requirements failed"
        ) as caught:
            generate_pypi("demo==1.0", GenerateOptions(), index_url=url)
    assert "no-such-backend" in caught.value.message


def test_build_can_be_turned_off(index: tuple[LocalIndex, str], tmp_path: Path) -> None:
    _, url = index
    with pytest.raises(UpstreamError, match="declares its requirements dynamically") as caught:
        generate_pypi(
            "demo==1.0", GenerateOptions(), index_url=url, build=BuildPolicy(enabled=False)
        )
    assert "--no-build-metadata" in caught.value.hint


def test_sdist_escaping_its_directory_is_refused(tmp_path: Path) -> None:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, text in {
            "evil-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n",
            "../escape.txt": "x",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text.encode()))
    with serve_index(tmp_path / "index") as (local, url):
        local.add("evil", "1.0", "evil-1.0.tar.gz", out.getvalue())
        with pytest.raises(UpstreamError, match="cannot be unpacked"):
            generate_pypi("evil==1.0", GenerateOptions(), index_url=url)
    assert not (tmp_path / "escape.txt").exists()
