"""`stockyard recipe generate cran` on DESCRIPTION fixtures (see fixtures/cran/README.md)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from stockyard.cli.main import main
from stockyard.recipes.cran import generate_cran
from stockyard.recipes.description import parse_description
from stockyard.recipes.errors import UpstreamError
from stockyard.recipes.render_v1 import render_v1
from stockyard.recipes.rendercheck import render_recipe
from stockyard.types.errors import StockyardError
from tests.recipes.conftest import FIXTURES
from tests.trust.http_serve import serve_directory

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


def _tarball(package: str, description: bytes, extra: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in {"DESCRIPTION": description, **extra}.items():
            info = tarfile.TarInfo(f"{package}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _stanza(description: bytes) -> str:
    """A PACKAGES stanza as `tools::write_PACKAGES` writes it: a few fields of DESCRIPTION."""
    fields = parse_description(description).fields
    kept = ("Package", "Version", "Depends", "Imports", "LinkingTo", "License", "NeedsCompilation")
    return "".join(f"{key}: {' '.join(fields[key].split())}\n" for key in kept if key in fields)


@pytest.fixture
def cran(tmp_path: Path) -> Iterator[str]:
    """A CRAN-like repository on 127.0.0.1: PACKAGES, two tarballs and one archived version."""
    contrib = tmp_path / "cran" / "src" / "contrib"
    (contrib / "Archive" / "glue").mkdir(parents=True)
    glue = (CRAN / "glue.DESCRIPTION").read_bytes()
    r6 = (CRAN / "R6.DESCRIPTION").read_bytes()
    (contrib / "glue_1.8.0.tar.gz").write_bytes(_tarball("glue", glue, {"src/glue.c": b""}))
    (contrib / "R6_2.5.1.tar.gz").write_bytes(_tarball("R6", r6, {"R/r6.R": b""}))
    old = glue.replace(b"Version: 1.8.0", b"Version: 1.7.0")
    archived = _tarball("glue", old, {"src/glue.c": b""})
    (contrib / "Archive" / "glue" / "glue_1.7.0.tar.gz").write_bytes(archived)
    packages = "\n".join(_stanza(d) for d in (r6, glue))
    (contrib / "PACKAGES").write_text(packages)
    with serve_directory(tmp_path / "cran") as url:
        yield url


def test_cran_by_name_from_a_local_repository(cran: str, tmp_path: Path) -> None:
    out = tmp_path / "recipe"
    # Default --check: rattler-build renders it before it is written.
    assert main(["recipe", "generate", "cran", "glue", "--cran-url", cran, "-o", str(out)]) == 0
    document = yaml.safe_load((out / "recipe.yaml").read_text())
    assert document["package"]["name"] == "r-glue"
    assert document["context"]["version"] == "1.8.0"
    assert len(document["source"]["sha256"]) == 64
    # The recipe names CRAN itself, not the mirror it was read from.
    assert document["source"]["url"][0].startswith("https://cran.r-project.org/src/contrib/")
    assert "noarch" not in document["build"]  # the tarball has src/


def test_cran_by_name_and_version_from_the_archive(cran: str) -> None:
    import hashlib
    import urllib.request

    recipe = generate_cran("glue==1.7.0", cran)
    assert recipe.version == "1.7.0"
    url = f"{cran}/src/contrib/Archive/glue/glue_1.7.0.tar.gz"
    with urllib.request.urlopen(url) as response:  # the bytes the recipe's hash must match
        assert recipe.source["sha256"] == hashlib.sha256(response.read()).hexdigest()
    assert generate_cran("R6", cran).main.noarch == "generic"


@pytest.mark.parametrize(
    ("source", "message", "hint"),
    [
        ("glu", "has no package named 'glu'", "Did you mean glue"),
        ("r6", "has no package named 'r6'", "Did you mean R6"),
        ("glue==0.1", "glue 0.1 is not in the CRAN repository", "current version is 1.8.0"),
        ("not a name!", "neither a file nor an R package name", "DESCRIPTION"),
    ],
)
def test_cran_bad_names(cran: str, source: str, message: str, hint: str) -> None:
    with pytest.raises(StockyardError, match=message) as caught:
        generate_cran(source, cran)
    assert hint in caught.value.hint


def test_unreachable_cran_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert main(["recipe", "generate", "cran", "glue", "--cran-url", url, "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the CRAN repository at {url}" in err
    assert "--cran-url" in err  # the hint names the way out
    assert list(tmp_path.iterdir()) == []


def test_not_a_cran_repository(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    with (
        serve_directory(tmp_path / "site") as url,
        pytest.raises(UpstreamError, match="PACKAGES answered HTTP 404") as caught,
    ):
        generate_cran("glue", url)
    assert "src/contrib" in caught.value.hint
