"""Python core metadata (METADATA, PKG-INFO, PEP 658 `.metadata`) read leniently.

`packaging.metadata.parse_email` reads every field it knows and hands back the rest as
unparsed, so a file with one odd field still gives its requirements; each requirement is then
parsed on its own and a broken one becomes a note instead of failing the whole recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement

from stockyard.recipes.errors import UpstreamError


@dataclass
class CoreMetadata:
    """The fields a recipe needs, from one distribution's core metadata."""

    name: str
    version: str
    summary: str = ""
    requires_python: str = ""
    requires_dist: list[Requirement] = field(default_factory=list)
    provides_extra: list[str] = field(default_factory=list)
    license_expression: str = ""
    license: str = ""
    license_files: list[str] = field(default_factory=list)
    classifiers: list[str] = field(default_factory=list)
    project_urls: dict[str, str] = field(default_factory=dict)
    home_page: str = ""
    dynamic: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _requirements(lines: list[str], notes: list[str]) -> list[Requirement]:
    parsed = []
    for line in lines:
        try:
            parsed.append(Requirement(line))
        except InvalidRequirement as exc:
            notes.append(f"requirement {line!r} left out: {exc}")
    return parsed


def parse_core_metadata(data: bytes | str, origin: str) -> CoreMetadata:
    """The core metadata in `data`; `origin` names the file in errors."""
    try:
        raw, _unparsed = parse_email(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UpstreamError(f"{origin}: unreadable core metadata: {exc}") from exc
    if "name" not in raw or "version" not in raw:
        raise UpstreamError(f"{origin}: core metadata without Name or Version")
    notes: list[str] = []
    return CoreMetadata(
        name=raw["name"],
        version=raw["version"],
        summary=raw.get("summary", "").strip(),
        requires_python=raw.get("requires_python", ""),
        requires_dist=_requirements(raw.get("requires_dist", []), notes),
        provides_extra=raw.get("provides_extra", []),
        license_expression=raw.get("license_expression", ""),
        license=raw.get("license", ""),
        license_files=raw.get("license_files", []),
        classifiers=raw.get("classifiers", []),
        project_urls=raw.get("project_urls", {}),
        home_page=raw.get("home_page", ""),
        dynamic=raw.get("dynamic", []),
        notes=notes,
    )


def python_min_of(requires_python: str, default: str) -> str:
    """The lowest `X.Y` a Requires-Python allows, never below `default` (conda-forge's floor)."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        specifiers = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return default
    floor = tuple(int(part) for part in default.split("."))
    for minor in range(floor[1], 30):
        if any(specifiers.contains(f"3.{minor}.{patch}") for patch in (0, 99)):
            return f"3.{minor}"
    return default
