"""`stockyard recipe generate cran`: an `r-<name>` v1 recipe from a DESCRIPTION.

The DESCRIPTION comes from a file, from a source tarball, or, for a package name, from the
tarball a CRAN-like repository serves (`cran_repo`; `--cran-url` picks the mirror).

- Requirements: `Depends` and `Imports` in host and run, `LinkingTo` (headers needed at build
  time) in host; base-R packages (`BASE_R`) left out, `R (>= x)` becomes `r-base >=x`.
- Names: `r-` + the lower-cased package name (conda-forge's convention).
- Versions: R writes `1.0-3`, conda needs `1.0_3` (conda-forge's spelling); `>=` / `<` kept.
- `noarch: generic` when there is nothing to compile (no `src/` in the tarball, or
  `NeedsCompilation: no`), compilers (C, C++ when `LinkingTo` names Rcpp or `src/` has C++
  sources, Fortran when it has Fortran) when there is.
- License: normalized to SPDX; the license text comes from the package's `LICENSE` file when
  the license names one (`MIT + file LICENSE`) and, for the GPL family, from the copies R ships
  (`lib/R/share/licenses/`), as conda-forge's R recipes do.
- `SystemRequirements` is reported for a human to map to conda packages.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from stockyard.recipes.cran_repo import CRAN_URL, CranRepository, valid_name
from stockyard.recipes.description import BASE_R, Description, dependencies, parse_description
from stockyard.recipes.errors import UpstreamError
from stockyard.recipes.model import Dep, Output, Recipe, Requirements, Selector
from stockyard.types.licenses import license_ids, normalize_license

_GPL_FILES = {
    "GPL-2.0-only": "GPL-2",
    "GPL-2.0-or-later": "GPL-2",
    "GPL-3.0-only": "GPL-3",
    "GPL-3.0-or-later": "GPL-3",
    "LGPL-2.1-only": "LGPL-2.1",
    "LGPL-2.1-or-later": "LGPL-2.1",
    "LGPL-3.0-only": "LGPL-3",
    "LGPL-3.0-or-later": "LGPL-3",
    "AGPL-3.0-only": "AGPL-3",
}


@dataclass
class RPackage:
    """A DESCRIPTION and what the source tarball tells about it (when we have the tarball)."""

    description: Description
    source_files: list[str] | None = None
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)


def conda_name(r_name: str) -> str:
    return f"r-{r_name.lower()}"


def conda_version(r_version: str) -> str:
    return r_version.replace("-", "_")


def read_source(
    source: str, cran_url: str = CRAN_URL, transport: httpx.BaseTransport | None = None
) -> RPackage:
    """A DESCRIPTION file, a source tarball holding `<pkg>/DESCRIPTION`, or a package name
    (`NAME` or `NAME==VERSION`) fetched from the CRAN-like repository at `cran_url`."""
    path = Path(source)
    if path.exists():
        data = path.read_bytes()
        if path.name.endswith((".tar.gz", ".tgz")):
            return _from_tarball(data, path.name)
        return RPackage(parse_description(data, str(path)))
    name, separator, version = source.partition("==")
    if not valid_name(name) or (separator and not version):
        raise UpstreamError(
            f"{source} is neither a file nor an R package name",
            hint="Pass a DESCRIPTION file, a source tarball, NAME or NAME==VERSION.",
        )
    from stockyard.recipes.pypi import new_http_client

    with new_http_client(transport) as http:
        tarball = CranRepository(http, cran_url).tarball(name, version or None)
    package = _from_tarball(tarball.data, tarball.filename)
    if package.description.get("Package") != name:
        raise UpstreamError(
            f"{tarball.url} holds package {package.description.get('Package')!r}, not {name!r}"
        )
    return package


def _from_tarball(data: bytes, filename: str) -> RPackage:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            names = archive.getnames()
            member = next(n for n in names if n.count("/") == 1 and n.endswith("/DESCRIPTION"))
            handle = archive.extractfile(member)
            description = parse_description(handle.read() if handle else b"", member)
    except (tarfile.TarError, StopIteration, EOFError, OSError) as exc:
        raise UpstreamError(f"{filename} is not an R source tarball with a DESCRIPTION") from exc
    files = [name.split("/", 1)[1] for name in names if "/" in name]
    return RPackage(description, files, hashlib.sha256(data).hexdigest())


def _compiled(package: RPackage) -> bool:
    if package.source_files is not None:
        return any(name.startswith("src/") for name in package.source_files)
    return package.description.get("NeedsCompilation", "no").strip().lower() == "yes"


def _compilers(package: RPackage, linking_to: list[str]) -> list[str]:
    files = package.source_files or []
    found = ["c"]
    if "Rcpp" in linking_to or any(f.endswith((".cpp", ".cc", ".cxx")) for f in files):
        found.append("cxx")
    if any(f.endswith((".f", ".f90", ".f95", ".F")) for f in files):
        found.append("fortran")
    return found


def _dep(dependency: object) -> Dep:
    from stockyard.recipes.description import RDependency

    assert isinstance(dependency, RDependency)
    name = "r-base" if dependency.name == "R" else conda_name(dependency.name)
    if dependency.operator and dependency.version:
        operator = "==" if dependency.operator == "==" else dependency.operator
        return Dep(f"{name} {operator}{conda_version(dependency.version)}")
    return Dep(name)


def _requirements(package: RPackage, notes: list[str]) -> tuple[list[Dep], list[Dep], list[str]]:
    description = package.description
    runtime = dependencies(description.get("Depends"), notes)
    runtime += dependencies(description.get("Imports"), notes)
    linking = dependencies(description.get("LinkingTo"), notes)
    r_base = next((_dep(d) for d in runtime if d.name == "R"), Dep("r-base"))
    run = [r_base] + [_dep(d) for d in runtime if d.name not in BASE_R]
    host = list(run)
    for dep in (_dep(d) for d in linking if d.name not in BASE_R):
        if dep.name not in {existing.name for existing in host}:
            host.append(dep)
    return host, list(dict.fromkeys(run)), [d.name for d in linking]


def _license(package: RPackage, notes: list[str]) -> tuple[str, list[str]]:
    text = package.description.get("License")
    spdx = normalize_license(text)
    if spdx is None:
        notes.append(f"license {text!r} is not SPDX: fix about.license")
        return "LicenseRef-Unknown", []
    files = []
    if "file licen" in text.lower():
        files.append("LICENSE" if "LICENSE" in text else "LICENCE")
    for license_id in sorted(license_ids(spdx)):
        if license_id in _GPL_FILES:
            # R ships the GPL-family texts; conda-forge's R recipes point there.
            files.append(f"${{{{ PREFIX }}}}/lib/R/share/licenses/{_GPL_FILES[license_id]}")
    return spdx, list(dict.fromkeys(files))


def _source(package: RPackage) -> dict[str, object]:
    name = package.description.get("Package")
    filename = f"{name}_${{{{ version }}}}.tar.gz"
    source: dict[str, object] = {
        "url": [
            f"{CRAN_URL}/src/contrib/{filename}",
            f"{CRAN_URL}/src/contrib/Archive/{name}/{filename}",
        ]
    }
    if package.sha256:
        source["sha256"] = package.sha256
    else:
        package.notes.append("no tarball given: add source.sha256")
    return source


def _main_output(package: RPackage, notes: list[str]) -> Output:
    host, run, linking = _requirements(package, notes)
    r_name = package.description.get("Package")
    output = Output(
        name=conda_name(r_name),
        requirements=Requirements(host=host, run=run),
        script="R CMD INSTALL --build .",
        tests=[{"script": [f"R -e \"library('{r_name}')\""]}],
    )
    if _compiled(package):
        cross = Selector(platform="build_platform != target_platform")
        build = [Dep("cross-r-base ${{ r_base }}.*", cross)]
        build += [Dep(f"${{{{ compiler('{c}') }}}}") for c in _compilers(package, linking)]
        output.requirements.build = [
            *build,
            Dep("${{ stdlib('c') }}"),
            Dep("make", Selector("unix")),
        ]
    else:
        output.noarch = "generic"
    return output


def generate_cran(
    source: str, cran_url: str = CRAN_URL, transport: httpx.BaseTransport | None = None
) -> Recipe:
    package = read_source(source, cran_url, transport)
    description = package.description
    notes = list(description.notes)
    license_spdx, license_files = _license(package, notes)
    urls = [u.strip() for u in description.get("URL").replace("\n", " ").split(",") if u.strip()]
    about: dict[str, object] = {
        "homepage": urls[0] if urls else f"{CRAN_URL}/package={description.get('Package')}",
        "summary": " ".join(description.get("Title").split()),
        "license": license_spdx,
        "license_file": license_files or None,
        "repository": next((u for u in urls if "github.com" in u or "gitlab" in u), None),
    }
    recipe = Recipe(
        name=conda_name(description.get("Package")),
        version=conda_version(description.get("Version")),
        context={"version": description.get("Version")},
        source=_source(package),
        outputs=[_main_output(package, notes)],
        about={key: value for key, value in about.items() if value},
        notes=notes + package.notes,
    )
    system = " ".join(description.get("SystemRequirements").split())
    if system:
        recipe.notes.append(f"SystemRequirements: {system} (map these to conda packages)")
    return recipe
