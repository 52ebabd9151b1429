"""A conda recipe (`model.Recipe`) from a PyPI release (`upstream.Release`)."""

from __future__ import annotations

import configparser
import re
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement

from stockyard.recipes.deps import convert
from stockyard.recipes.license import find_license, license_files
from stockyard.recipes.metadata import python_min_of
from stockyard.recipes.model import Dep, Output, Recipe, Requirements, Selector
from stockyard.recipes.names import conda_name, normalize
from stockyard.recipes.options import DEFAULT_PYTHON_MIN, ExtrasMode, GenerateOptions

if TYPE_CHECKING:
    from stockyard.recipes.upstream import Release

__all__ = ["DEFAULT_PYTHON_MIN", "ExtrasMode", "GenerateOptions", "build_recipe"]
PIP_INSTALL = "${{ PYTHON }} -m pip install . -vv --no-deps --no-build-isolation"

# Build requirements that say which compilers a compiled package needs.
_RUST_BACKENDS = {"maturin", "setuptools-rust"}
_CXX_BACKENDS = {"pybind11", "nanobind", "scikit-build-core", "scikit-build", "cmake"}
_NOT_HOST = {"pip", "cmake", "ninja"}
_SKIPPED_MODULES = {"tests", "test", "testing", "docs", "doc", "examples", "benchmarks"}


def build_recipe(release: Release, options: GenerateOptions) -> Recipe:
    """The recipe of a release: one main output, plus extras outputs when asked."""
    from stockyard.recipes.extras import add_extras

    metadata = release.metadata
    python_min = python_min_of(metadata.requires_python, options.python_min)
    noarch = _noarch(release)
    main = _main_output(release, python_min, noarch)
    recipe = Recipe(
        name=conda_name(release.pypi_name),
        version=release.version,
        context={"name": normalize(release.pypi_name), "version": release.version},
        source=_source(release),
        outputs=[main],
        about=_about(release),
        notes=list(release.notes) + list(metadata.notes),
    )
    recipe.context["python_min"] = python_min
    base = convert(metadata.requires_dist, release.pypi_name, python_min, noarch)
    main.requirements.run += base.deps
    recipe.notes += base.notes
    add_virtual_packages(main, noarch)
    if options.extras_as != "none":
        add_extras(recipe, release, python_min, noarch, options)
    return recipe


def _noarch(release: Release) -> bool:
    if release.wheels:
        return release.pure
    return not _compilers(release)


def _build_requires(release: Release) -> list[Requirement]:
    lines = release.pyproject.get("build-system", {}).get("requires")
    if lines is None:
        lines = ["setuptools", "wheel"] if release.has_setup_py or not release.pyproject else []
    parsed = []
    for line in lines:
        try:
            parsed.append(Requirement(line))
        except InvalidRequirement:
            release.notes.append(f"build requirement {line!r} left out: not PEP 508")
    return parsed


def _compilers(release: Release) -> list[str]:
    names = {normalize(requirement.name) for requirement in _build_requires(release)}
    found = []
    if names & _RUST_BACKENDS:
        found += ["c", "rust"]
    if names & _CXX_BACKENDS:
        found += ["c", "cxx"]
    if {"cython", "meson-python", "cffi"} & names or (release.wheels and not release.pure):
        found.append("c")
    return list(dict.fromkeys(found))


def _main_output(release: Release, python_min: str, noarch: bool) -> Output:
    requirements = Requirements()
    build_requires = convert(_build_requires(release), release.pypi_name, python_min, noarch)
    host = [dep for dep in build_requires.deps if dep.name not in _NOT_HOST]
    if noarch:
        requirements.host = [Dep("python ${{ python_min }}.*"), Dep("pip"), *host]
        requirements.run = [Dep("python >=${{ python_min }}")]
    else:
        requirements.build = _compiled_build(_compilers(release))
        requirements.host = [Dep("python"), Dep("pip"), *host]
        requirements.run = [Dep("python")]
    return Output(
        name=conda_name(release.pypi_name),
        requirements=requirements,
        noarch="python" if noarch else None,
        script=PIP_INSTALL,
        entry_points=_entry_points(release),
        tests=[_import_test(release, noarch)],
    )


def _compiled_build(compilers: list[str]) -> list[Dep]:
    cross = Selector(platform="build_platform != target_platform")
    deps = [Dep("python", cross), Dep("cross-python_${{ target_platform }}", cross)]
    deps += [Dep(f"${{{{ compiler('{language}') }}}}") for language in compilers or ["c"]]
    return [*deps, Dep("${{ stdlib('c') }}")]


def _entry_points(release: Release) -> list[str]:
    text = release.wheel.dist_info.get("entry_points.txt", "") if release.wheel else ""
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        release.notes.append("entry_points.txt of the wheel is unreadable; no entry points")
        return []
    if not parser.has_section("console_scripts"):
        return []
    return [f"{key} = {value.strip()}" for key, value in parser.items("console_scripts")]


def import_modules(release: Release) -> list[str]:
    """Top-level modules to import in the test: `top_level.txt`, else the wheel's files."""
    text = release.wheel.dist_info.get("top_level.txt", "") if release.wheel else ""
    modules = [line.strip() for line in text.splitlines() if line.strip()]
    if not modules:
        modules = _modules_from_names(release.names)
    modules = [m for m in modules if not m.startswith("_") and m not in _SKIPPED_MODULES]
    return sorted(set(modules)) or [normalize(release.pypi_name).replace("-", "_")]


_MODULE_FILE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\.py|\.[^/]*\.(so|pyd)|\.so|\.pyd)$")


def _modules_from_names(names: list[str]) -> list[str]:
    found = set()
    for name in names:
        parts = name.split("/")
        if len(parts) == 2 and parts[1] == "__init__.py" and ".dist-info" not in parts[0]:
            found.add(parts[0])
        elif len(parts) == 1 and (match := _MODULE_FILE.match(parts[0])):
            found.add(match.group(1))
    return sorted(found)


def _import_test(release: Release, noarch: bool) -> dict[str, object]:
    python: dict[str, object] = {"imports": import_modules(release), "pip_check": True}
    if noarch:
        python["python_version"] = "${{ python_min }}.*"
    return {"python": python}


def _source(release: Release) -> dict[str, str]:
    sdist = release.sdist
    if sdist is None:
        wheel = release.wheels[0]
        release.notes.append("no sdist on PyPI: the source is the wheel")
        return {"url": wheel.url, "sha256": wheel.sha256}
    name = normalize(release.pypi_name)
    filename = sdist.filename.replace(f"-{release.version}.", "-${{ version }}.", 1)
    return {
        "url": f"https://pypi.org/packages/source/{name[0]}/{name}/{filename}",
        "sha256": sdist.sha256,
    }


def _url(urls: dict[str, str], *keys: str) -> str | None:
    lowered = {key.lower().replace(" ", "").replace("-", ""): value for key, value in urls.items()}
    return next((lowered[key] for key in keys if key in lowered), None)


def _about(release: Release) -> dict[str, object]:
    metadata = release.metadata
    texts = [
        text
        for name, text in (release.wheel.dist_info.items() if release.wheel else [])
        if name not in ("entry_points.txt", "top_level.txt", "METADATA")
    ]
    finding = find_license(
        metadata.license_expression, metadata.classifiers, metadata.license, texts
    )
    urls = metadata.project_urls
    about: dict[str, object] = {
        "homepage": _url(urls, "homepage", "home") or metadata.home_page or None,
        "summary": metadata.summary or None,
        # A recipe must carry a valid SPDX expression to render; unknown is said so, loudly.
        "license": finding.spdx or "LicenseRef-Unknown",
        "license_file": license_files(metadata.license_files, release.names) or None,
        "repository": _url(urls, "source", "repository", "sourcecode", "code", "github"),
        "documentation": _url(urls, "documentation", "docs"),
    }
    if finding.spdx is None:
        original = metadata.license_expression or metadata.license or "nothing"
        release.notes.append(
            f"license not recognised as SPDX (upstream says {original[:60]!r}): fix about.license"
        )
    return {key: value for key, value in about.items() if value}


def add_virtual_packages(output: Output, noarch: bool) -> None:
    """A noarch recipe with OS-specific lines needs `__unix`/`__win` (conda-forge's idiom).

    The recipe is then built once per OS family (`noarch_platforms` in conda-forge.yml), each
    build depending on its family's virtual package so that a solver picks the right one.
    """
    from stockyard.recipes.markers import virtual_package

    if not noarch:
        return
    platforms = {dep.selector.platform for dep in output.requirements.run if dep.selector.platform}
    families = {name for platform in platforms for name, _ in virtual_package(platform)}
    if not families:
        return
    chosen = ["linux", "osx", "win"] if families & {"linux", "osx"} else ["unix", "win"]
    for family in chosen:
        output.requirements.run.append(Dep(f"__{family}", Selector(platform=family)))
