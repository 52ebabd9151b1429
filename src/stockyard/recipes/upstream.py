"""Everything a PyPI release tells about itself, gathered without running its code.

Requirements come from the wheel's core metadata (the PEP 658 `.metadata` file, else the
wheel's own METADATA), else the sdist's PKG-INFO when it declares Requires-Dist statically
(metadata 2.2+ without `Dynamic: Requires-Dist`), else the static `[project]` table of the
sdist's `pyproject.toml`, else the METADATA its PEP 517 backend prepares in an isolated build
environment (`sdist_build`: a fresh venv in a child process, never our own process; refused
with a hint when `BuildPolicy.enabled` is off).
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from stockyard.recipes.errors import UpstreamError
from stockyard.recipes.metadata import CoreMetadata, parse_core_metadata
from stockyard.recipes.pypi import DistFile, PyPIClient, members_of, release_files
from stockyard.recipes.sdist_build import BuildPolicy, build_metadata
from stockyard.recipes.wheel import WheelContents, read_wheel

_SDIST_FILES = {"pyproject.toml", "PKG-INFO", "setup.py"}


@dataclass
class Release:
    """One upstream release and what was read from it."""

    pypi_name: str
    version: str
    files: list[DistFile]
    metadata: CoreMetadata
    metadata_origin: str
    wheel: WheelContents | None = None
    pyproject: dict[str, Any] = field(default_factory=dict)
    has_setup_py: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def sdist(self) -> DistFile | None:
        return next((file for file in self.files if file.is_sdist), None)

    @property
    def wheels(self) -> list[DistFile]:
        return [file for file in self.files if file.is_wheel]

    @property
    def pure(self) -> bool:
        """Every wheel is pure Python (`none-any`) and none ships a compiled module."""
        if not self.wheels:
            return False
        return all(_is_pure(file.filename) for file in self.wheels) and not any(
            name.endswith((".so", ".pyd", ".dylib", ".dll")) for name in self.names
        )

    @property
    def names(self) -> list[str]:
        return self.wheel.names if self.wheel else []


def _tags(filename: str) -> set[tuple[str, str, str]]:
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return set()
    return {(tag.interpreter, tag.abi, tag.platform) for tag in tags}


def _is_pure(filename: str) -> bool:
    tags = _tags(filename)
    return bool(tags) and all(abi == "none" and plat == "any" for _, abi, plat in tags)


def representative_wheel(wheels: list[DistFile]) -> DistFile | None:
    """A pure wheel, else the newest CPython x86-64 Linux one, else any.

    "Newest" compares the CPython tags as versions: sorting file names would pick `cp39` over
    `cp314`, or a PyPy wheel (`pp311`) over every CPython one.
    """
    pure = [wheel for wheel in wheels if _is_pure(wheel.filename)]
    if pure:
        return pure[0]
    # Free-threaded builds (`cp313t`) may drop or add requirements; the default build rules.
    linux = [
        w
        for w in wheels
        if "manylinux" in w.filename and "x86_64" in w.filename and "t-" not in w.filename
    ]
    candidates = sorted(linux or wheels, key=_cpython_rank)
    return candidates[-1] if candidates else None


def _cpython_rank(wheel: DistFile) -> tuple[int, int, str]:
    """(is CPython, its minor version, file name): the newest CPython wheel sorts last."""
    minors = [
        int(interpreter[3:])
        for interpreter, _, _ in _tags(wheel.filename)
        if interpreter.startswith("cp3") and interpreter[3:].isdigit()
    ]
    return (1 if minors else 0, max(minors, default=0), wheel.filename)


def fetch_release(
    client: PyPIClient, name: str, version: str | None, build: BuildPolicy | None = None
) -> Release:
    """Read a release (the newest when `version` is None)."""
    from stockyard.recipes.pypi import newest_version

    project = client.project(name)
    pypi_name = str(project.get("info", {}).get("name") or name)
    version = version or newest_version(project)
    files = release_files(project, version)
    wheel = representative_wheel([file for file in files if file.is_wheel])
    sdist = next((file for file in files if file.is_sdist), None)
    contents, core, sdist_data = _read_files(client, wheel, sdist)
    release = _from_wheel(client, pypi_name, version, files, wheel, contents, core)
    sdist_files = members_of(sdist_data, sdist.filename, _SDIST_FILES) if sdist else {}
    release = release or _from_sdist(pypi_name, version, files, sdist_files)
    if release is None:
        assert sdist is not None  # _from_sdist refuses a release without one
        policy = build or BuildPolicy()
        release = _from_backend(client, pypi_name, version, files, sdist, sdist_data, policy)
    release.has_setup_py = "setup.py" in sdist_files
    if "pyproject.toml" in sdist_files:
        release.pyproject = _toml(sdist_files["pyproject.toml"], release.notes)
    return release


def _read_files(
    client: PyPIClient, wheel: DistFile | None, sdist: DistFile | None
) -> tuple[WheelContents | None, bytes | None, bytes]:
    """The wheel's file list, its PEP 658 metadata and the sdist, read at the same time.

    The three reads do not depend on each other, so they cost one round trip to the file host
    instead of three (httpx's client is safe to share between threads).
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="stockyard-pypi") as pool:
        contents = pool.submit(read_wheel, client, wheel) if wheel else None
        core = pool.submit(client.core_metadata, wheel) if wheel else None
        sdist_data = pool.submit(client.sdist_bytes, sdist) if sdist else None
        return (
            contents.result() if contents else None,
            core.result() if core else None,
            sdist_data.result() if sdist_data else b"",
        )


def _from_wheel(
    client: PyPIClient,
    pypi_name: str,
    version: str,
    files: list[DistFile],
    wheel: DistFile | None,
    contents: WheelContents | None,
    data: bytes | None,
) -> Release | None:
    if wheel is None or contents is None:
        return None
    origin = f"{wheel.filename}.metadata (PEP 658)"
    if data is None:
        data = read_wheel(client, wheel, also=("METADATA",)).dist_info.get("METADATA", "").encode()
        origin = f"{wheel.filename}: METADATA"
    metadata = parse_core_metadata(data, origin)
    return Release(pypi_name, version, files, metadata, origin, wheel=contents)


def _from_sdist(
    pypi_name: str, version: str, files: list[DistFile], sdist_files: dict[str, bytes]
) -> Release | None:
    """The release from the sdist's static metadata; None when only its backend can tell."""
    if not sdist_files:
        raise UpstreamError(f"{pypi_name} {version} has neither wheels nor a readable sdist")
    if "PKG-INFO" in sdist_files:
        metadata = parse_core_metadata(sdist_files["PKG-INFO"], "sdist PKG-INFO")
        dynamic = {field.lower() for field in metadata.dynamic}
        if metadata.requires_dist or _static_metadata_version(sdist_files["PKG-INFO"], dynamic):
            return Release(pypi_name, version, files, metadata, "sdist PKG-INFO")
    project = _toml(sdist_files.get("pyproject.toml", b""), []).get("project", {})
    if project and "dependencies" not in project.get("dynamic", []):
        metadata = _metadata_from_project(project, pypi_name, version)
        return Release(pypi_name, version, files, metadata, "sdist pyproject.toml [project]")
    return None


def _from_backend(
    client: PyPIClient,
    pypi_name: str,
    version: str,
    files: list[DistFile],
    sdist: DistFile,
    sdist_data: bytes,
    policy: BuildPolicy,
) -> Release:
    """The release from the METADATA its PEP 517 backend prepares in an isolated environment."""
    import platform

    if not policy.enabled:
        raise UpstreamError(
            f"{pypi_name} {version} publishes no wheel and its sdist declares its requirements "
            "dynamically (setup.py)",
            hint="Let Stockyard run its build backend in an isolated environment (drop "
            "--no-build-metadata), write the requirements by hand, or pick a release with wheels.",
        )
    built = build_metadata(sdist_data, sdist.filename, client.simple_url, policy.timeout)
    origin = f"{sdist.filename}: METADATA prepared by its PEP 517 backend"
    metadata = parse_core_metadata(built.metadata, origin)
    names = [f"{built.dist_info_dir}/{name}" for name in ("METADATA", *built.files)]
    release = Release(
        pypi_name, version, files, metadata, origin, wheel=WheelContents(names, built.files)
    )
    python = ".".join(platform.python_version_tuple()[:2])
    release.notes.append(
        f"requirements computed by the sdist's build backend (run in isolation on "
        f"{sys.platform}, Python {python}): a setup.py may compute them per platform or Python; "
        "check them"
    )
    if metadata.version != version:
        release.notes.append(f"the backend says version {metadata.version}, PyPI {version}")
    return release


def _static_metadata_version(pkg_info: bytes, dynamic: set[str]) -> bool:
    head = pkg_info[:200].decode("utf-8", "replace")
    version = (
        head.split("Metadata-Version:", 1)[-1].split()[0] if "Metadata-Version:" in head else ""
    )
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (2, 2) and "requires-dist" not in dynamic


def _metadata_from_project(project: dict[str, Any], name: str, version: str) -> CoreMetadata:
    from packaging.requirements import InvalidRequirement, Requirement

    requirements, notes = [], []
    optional: dict[str, list[str]] = project.get("optional-dependencies", {}) or {}
    lines = list(project.get("dependencies", []))
    for extra, extra_lines in optional.items():
        lines += [_with_extra(line, extra) for line in extra_lines]
    for line in lines:
        try:
            requirements.append(Requirement(line))
        except InvalidRequirement as exc:
            notes.append(f"requirement {line!r} left out: {exc}")
    license_field = project.get("license")
    return CoreMetadata(
        name=str(project.get("name", name)),
        version=version,
        summary=str(project.get("description", "")),
        requires_python=str(project.get("requires-python", "")),
        requires_dist=requirements,
        provides_extra=list(optional),
        license_expression=license_field if isinstance(license_field, str) else "",
        classifiers=list(project.get("classifiers", [])),
        project_urls=dict(project.get("urls", {}) or {}),
        notes=notes,
    )


def _with_extra(line: str, extra: str) -> str:
    requirement, _, marker = line.partition(";")
    condition = f"({marker.strip()}) and extra == '{extra}'" if marker.strip() else ""
    return f"{requirement}; {condition or f'extra == {extra!r}'}"


def _toml(data: bytes, notes: list[str]) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8", "replace"))
    except tomllib.TOMLDecodeError as exc:
        notes.append(f"the sdist's pyproject.toml is not valid TOML: {exc}")
        return {}
