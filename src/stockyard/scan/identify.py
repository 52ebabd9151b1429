"""Identify an artifact's contents: one bounded pass over its members, nothing extracted.

Read: `info/index.json` (its `purls`, subdir, license), `info/about.json` (source URLs), the
names under `info/licenses/`, and the header block of every embedded Python distribution's
core metadata (`*.dist-info/METADATA`, `*.egg-info/PKG-INFO`). Every other member is skipped.
Decompression is bounded by the package layer's `Limits` (bombs); what this module reads is
bounded by `ScanLimits`: an artifact vendoring thousands of distributions is identified up to
the cap and says so in its warnings.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from stockyard.package._problems import ArchiveProblem, io_error
from stockyard.package.limits import DEFAULT_LIMITS, Limits
from stockyard.package.members import iter_members
from stockyard.package.tar_format import TarMember, TarReader
from stockyard.scan.model import Component, Identification, SourceUrl
from stockyard.scan.purls import component_from_purl, pypi_purl
from stockyard.scan.pymeta import (
    MAX_HEADER_BYTES,
    MetadataKind,
    metadata_folder,
    name_version_from_folder,
    parse_name_version,
    pypi_name,
    python_metadata_kind,
)
from stockyard.types.errors import InvalidArtifact, InvalidIdentifier
from stockyard.types.identifiers import ArtifactName, parse_artifact_filename

INDEX_JSON: Final = "info/index.json"
ABOUT_JSON: Final = "info/about.json"
LICENSES_DIR: Final = "info/licenses/"
#: about.json keys holding URLs that identify where the contents come from.
URL_KEYS: Final = (
    "home",
    "dev_url",
    "doc_url",
    "source_url",
    "repository",
    "documentation",
    "homepage",
    "license_url",
)
_URL_SCHEMES: Final = ("http://", "https://", "git+", "git://", "ftp://", "ssh://")


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """What identification reads at most from one artifact."""

    #: Python metadata folders read per artifact; the rest are counted and reported.
    max_python_metadata: int = 500
    #: index.json / about.json larger than this are not decoded (a warning says so).
    max_json_bytes: int = 1 << 20
    #: License file names kept.
    max_license_files: int = 1000
    #: Decompression bounds of the package layer.
    archive: Limits = field(default_factory=lambda: DEFAULT_LIMITS)


DEFAULT_SCAN_LIMITS: Final = ScanLimits()


def identify_artifact(
    path: str | os.PathLike[str],
    *,
    filename: str | None = None,
    limits: ScanLimits = DEFAULT_SCAN_LIMITS,
) -> Identification:
    """What identifies the contents of the `.conda` / `.tar.bz2` at `path`.

    Raises `InvalidArtifact` (truncated, corrupt, unsafe, over the limits) naming the file.
    """
    path_str = os.fspath(path)
    name = filename if filename is not None else os.path.basename(path_str)
    display = filename if filename is not None else path_str
    try:
        expected = parse_artifact_filename(name)
    except InvalidIdentifier as exc:
        raise InvalidArtifact(display, exc.message) from None
    collector = _Collector(limits)
    try:
        with open(path_str, "rb") as file:
            sha256 = hashlib.file_digest(file, "sha256").hexdigest()
            fd = file.fileno()
            size = os.fstat(fd).st_size
            for _section, member, reader in iter_members(
                fd, size, expected.extension, limits.archive
            ):
                collector.take(member, reader)
    except ArchiveProblem as problem:
        raise problem.to_error(display) from None
    except OSError as exc:
        raise io_error(display, "read the file", exc) from None
    return collector.result(expected, sha256)


class _Collector:
    """Collects the identifying members as they stream past."""

    def __init__(self, limits: ScanLimits) -> None:
        self.limits = limits
        self.index: dict[str, Any] = {}
        self.about: dict[str, Any] = {}
        self.license_files: list[str] = []
        self.python: list[tuple[str, MetadataKind, bytes]] = []
        self.python_seen = 0
        self.warnings: list[str] = []

    def take(self, member: TarMember, reader: TarReader) -> None:
        path = member.path
        is_file = member.kind == "file"
        if path == INDEX_JSON and is_file:
            self.index = self._json_object(path, member.size, reader)
        elif path == ABOUT_JSON and is_file:
            self.about = self._json_object(path, member.size, reader)
        elif path.startswith(LICENSES_DIR):
            if is_file and len(self.license_files) < self.limits.max_license_files:
                self.license_files.append(path[len(LICENSES_DIR) :])
        else:
            kind = python_metadata_kind(path, is_file)
            if kind is not None:
                self.python_seen += 1
                if len(self.python) < self.limits.max_python_metadata:
                    # The first chunk holds the headers; the rest of the member is skipped.
                    header = next(reader.iter_data(MAX_HEADER_BYTES), b"")
                    self.python.append((path, kind, header))

    def _json_object(self, path: str, size: int, reader: TarReader) -> dict[str, Any]:
        if size > self.limits.max_json_bytes:
            self.warnings.append(f"{path} is {size} bytes, over {self.limits.max_json_bytes}")
            return {}
        try:
            value = msgspec.json.decode(reader.read_data())
        except (msgspec.DecodeError, RecursionError):
            self.warnings.append(f"{path} is not valid JSON")
            return {}
        if not isinstance(value, dict):
            self.warnings.append(f"{path} is not a JSON object")
            return {}
        return value

    def result(self, expected: ArtifactName, sha256: str) -> Identification:
        components = self._python_components() + self._record_components(expected.version)
        if self.python_seen > len(self.python):
            self.warnings.append(
                f"{self.python_seen} Python metadata folders; only the first "
                f"{len(self.python)} were read (ScanLimits.max_python_metadata)"
            )
        license_value = self.index.get("license")
        subdir = self.index.get("subdir")
        return Identification(
            sha256=sha256,
            filename=expected.filename,
            name=expected.name,
            version=expected.version,
            build=expected.build,
            subdir=subdir if isinstance(subdir, str) else "",
            components=_unique(components),
            record_purls=[p for p in self._record_purls() if isinstance(p, str)],
            source_urls=_source_urls(self.about),
            license=license_value if isinstance(license_value, str) else None,
            license_files=sorted(self.license_files),
            python_metadata_seen=self.python_seen,
            warnings=self.warnings,
        )

    def _python_components(self) -> list[Component]:
        out = []
        for path, kind, header in self.python:
            found = parse_name_version(header)
            if found is None:
                found = name_version_from_folder(metadata_folder(path))
                if found is None:
                    self.warnings.append(f"{path}: no Name and Version")
                    continue
                self.warnings.append(f"{path}: no Name/Version headers, named by its folder")
            name, version = found
            out.append(
                Component(
                    purl=pypi_purl(name, version),
                    ecosystem="PyPI",
                    name=pypi_name(name),
                    version=version,
                    source=kind,
                    path=path,
                )
            )
        return out

    def _record_purls(self) -> list[Any]:
        purls = self.index.get("purls")
        if purls is None:
            return []
        if not isinstance(purls, list):
            self.warnings.append(f"{INDEX_JSON}: purls is not a list")
            return []
        return purls

    def _record_components(self, conda_version: str) -> list[Component]:
        out = []
        for text in self._record_purls():
            try:
                if not isinstance(text, str):
                    raise ValueError("not a string")
                out.append(component_from_purl(text, conda_version))
            except ValueError as exc:
                self.warnings.append(f"{INDEX_JSON}: invalid purl {text!r} ({exc})")
        return out


def _unique(components: list[Component]) -> list[Component]:
    """One component per (ecosystem, name, version): the same distribution is often shipped for
    several Python versions, or named both by metadata and by the record's purls."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for component in components:
        key = (component.ecosystem, component.name, component.version)
        if key not in seen:
            seen.add(key)
            out.append(component)
    return out


def _source_urls(about: dict[str, Any]) -> list[SourceUrl]:
    out = []
    places = [about, about.get("extra")] if isinstance(about.get("extra"), dict) else [about]
    for place in places:
        assert isinstance(place, dict)
        for key in URL_KEYS:
            value = place.get(key)
            values = value if isinstance(value, list) else [value]
            for url in values:
                if isinstance(url, str) and url.startswith(_URL_SCHEMES):
                    out.append(SourceUrl(kind=key, url=url))
    return list(dict.fromkeys(out))
