"""`stockyard recipe generate cran` on DESCRIPTION fixtures (see fixtures/cran/README.md)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from stockyard.cli.main import main
from stockyard.recipes.cran import generate_cran
from stockyard.recipes.description import parse_description
from stockyard.recipes.errors import UpstreamError
from stockyard.recipes.render_v1 import render_v1
from stockyard.recipes.rendercheck import render_recipe
from tests.recipes.conftest import FIXTURES

CRAN = FIXTURES / "cran"


def _specs(deps) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.spec for d in deps]


@pytest.mark.parametrize("name", ["glue", "Rcpp", "data.table", "R6", "latin1"])
def test_every_fixture_renders(tmp_path: Path, name: str) -> None:
    recipe = generate_cran(str(CRAN / f"{name}.DESCRIPTION"))
    path = tmp_path / "recipe.yaml"
    path.write_text(render_v1(recipe))
    render_recipe(path)


def test_pure_r_package_is_noarch_generic() -> None:
    recipe = generate_cran(str(CRAN / "R6.DESCRIPTION"))
    assert recipe.name == "r-r6" and recipe.main.noarch == "generic"
    assert _specs(recipe.main.requirements.run) == ["r-base >=3.0"]
    assert recipe.about["license"] == "MIT" and recipe.about["license_file"] == ["LICENSE"]


def test_base_packages_left_out_and_compilers_added() -> None:
    recipe = generate_cran(str(CRAN / "glue.DESCRIPTION"))
    assert _specs(recipe.main.requirements.run) == ["r-base >=3.6"]  # `methods` is base R
    assert recipe.main.noarch is None
    assert "${{ compiler('c') }}" in _specs(recipe.main.requirements.build)


def test_gpl_license_file_from_r() -> None:
    recipe = generate_cran(str(CRAN / "Rcpp.DESCRIPTION"))
    assert recipe.about["license"] == "GPL-2.0-or-later"
    assert recipe.about["license_file"] == ["${{ PREFIX }}/lib/R/share/licenses/GPL-2"]
    assert recipe.about["homepage"] == "https://www.rcpp.org"


def test_system_requirements_reported() -> None:
    recipe = generate_cran(str(CRAN / "data.table.DESCRIPTION"))
    assert any(note.startswith("SystemRequirements: zlib") for note in recipe.notes)
    assert recipe.about["license"] == "MPL-2.0"


def test_latin1_continuations_and_linking_to() -> None:
    recipe = generate_cran(str(CRAN / "latin1.DESCRIPTION"))
    assert recipe.about["summary"] == "Statistiques du café"
    assert recipe.version == "0.3_1"
    host, run = recipe.main.requirements.host, recipe.main.requirements.run
    assert _specs(run) == ["r-base >=4.0.0", "r-mass", "r-rcpp >=1.0.0", "r-matrix"]
    assert _specs(host) == [*_specs(run), "r-rcpparmadillo"]
    assert "${{ compiler('cxx') }}" in _specs(recipe.main.requirements.build)


def test_tarball_gives_sha256_and_src(tmp_path: Path) -> None:
    tarball = tmp_path / "R6_2.5.1.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        data = (CRAN / "R6.DESCRIPTION").read_bytes()
        info = tarfile.TarInfo("R6/DESCRIPTION")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        src = tarfile.TarInfo("R6/src/init.c")
        archive.addfile(src, io.BytesIO(b""))
    recipe = generate_cran(str(tarball))
    assert len(str(recipe.source["sha256"])) == 64
    assert recipe.main.noarch is None  # src/ wins over NeedsCompilation: no


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"  leading continuation\nPackage: x\n", "continuation line"),
        (b"Package: x\nthis is not a field\n", "not a 'Field: value' line"),
        (b"Package: x\n", "no Version"),
    ],
)
def test_bad_descriptions(data: bytes, message: str) -> None:
    with pytest.raises(UpstreamError, match=message):
        parse_description(data)


def test_cli_errors_without_network(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["recipe", "generate", "cran", "glue", "-o", str(tmp_path)]) == 1
    assert "CRAN itself is not reachable" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
