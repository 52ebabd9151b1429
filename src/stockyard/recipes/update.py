"""`stockyard recipe update`: a recipe moved to a new upstream version, with its requirements.

The requirement delta is computed from upstream alone: the core metadata of the version the
recipe builds now against the new version's (base requirements, build-system requirements,
extras, compiled parts, license). Only lines upstream changed are touched, in every output that
has them (`host`, `run`, `run_constraints`); a requirement upstream added goes to the output
that builds the package. Whatever a program should not decide is listed for a human.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from stockyard.recipes.deps import Converted, convert
from stockyard.recipes.errors import RecipeInvalid
from stockyard.recipes.pypi import PYPI_URL, PyPIClient, new_http_client, newest_version
from stockyard.recipes.sdist_build import BuildPolicy
from stockyard.recipes.upstream import Release, fetch_release

if TYPE_CHECKING:
    from stockyard.recipes.update_apply import RecipeEditor


@dataclass
class Change:
    name: str
    before: str | None
    after: str | None
    section: str
    #: The pip extra whose requirement changed (its `{name}-with-{extra}` output); None: base.
    extra: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "section": self.section,
            "extra": self.extra,
        }


@dataclass
class UpdateResult:
    package: str
    old_version: str
    new_version: str
    upstream: list[Change] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)
    needs_human: list[str] = field(default_factory=list)
    license_before: str | None = None
    license_after: str | None = None
    written: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "upstream_changes": [change.to_json() for change in self.upstream],
            "recipe_edits": self.edits,
            "needs_human": self.needs_human,
            "license": {"before": self.license_before, "after": self.license_after},
            "license_changed": self.license_before != self.license_after,
            "written": self.written,
        }

    def pr_body(self) -> str:
        from stockyard.recipes.update_report import pr_body

        return pr_body(self)


def _specs(release: Release, build: bool, noarch: bool) -> dict[str, str]:
    from stockyard.recipes.pypi_recipe import DEFAULT_PYTHON_MIN, _build_requires

    requirements = _build_requires(release) if build else release.metadata.requires_dist
    converted = convert(requirements, release.pypi_name, DEFAULT_PYTHON_MIN, noarch)
    return {dep.name: dep.spec for dep in converted.deps}


def extras_lines(release: Release, noarch: bool) -> dict[str, Converted]:
    from stockyard.recipes.extras import extras_of
    from stockyard.recipes.pypi_recipe import DEFAULT_PYTHON_MIN

    return extras_of(release, DEFAULT_PYTHON_MIN, noarch)


def _diff(
    before: dict[str, str], after: dict[str, str], section: str, extra: str | None = None
) -> list[Change]:
    return [
        Change(name, before.get(name), after.get(name), section, extra)
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


def upstream_delta(old: Release, new: Release, noarch: bool) -> list[Change]:
    """Requirement changes: base run and host lines, and the lines of extras both releases have."""
    changes = []
    for section, build in (("run", False), ("host", True)):
        changes += _diff(_specs(old, build, noarch), _specs(new, build, noarch), section)
    before, after = extras_lines(old, noarch), extras_lines(new, noarch)
    for extra in sorted(before.keys() & after.keys()):
        old_specs = {dep.name: dep.spec for dep in before[extra].deps}
        new_specs = {dep.name: dep.spec for dep in after[extra].deps}
        changes += _diff(old_specs, new_specs, "run", extra)
    return changes


def added_extras(old: Release, new: Release, noarch: bool) -> dict[str, Converted]:
    """Extras the new release has and the old one had not (tooling extras left out)."""
    before, after = extras_lines(old, noarch), extras_lines(new, noarch)
    return {extra: lines for extra, lines in after.items() if extra not in before}


RecipeFormat = Literal["auto", "v1", "v0"]


def detect_format(path: Path) -> str:
    """v0 for a meta.yaml or a file with Jinja statements/expressions, v1 otherwise."""
    from stockyard.recipes.update_v0 import looks_like_v0

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeInvalid(f"cannot read {path}: {exc}") from exc
    return "v0" if path.name == "meta.yaml" or looks_like_v0(text) else "v1"


def open_editor(path: Path, fmt: RecipeFormat = "auto") -> RecipeEditor:
    from stockyard.recipes.update_v0 import V0Editor
    from stockyard.recipes.update_v1 import V1Editor

    chosen = detect_format(path) if fmt == "auto" else fmt
    return V0Editor(path) if chosen == "v0" else V1Editor(path)


def update_recipe_file(
    path: Path,
    to: str | None,
    write: bool = True,
    transport: httpx.BaseTransport | None = None,
    *,
    fmt: RecipeFormat = "auto",
    index_url: str = PYPI_URL,
    build: BuildPolicy | None = None,
) -> UpdateResult:
    """Update the recipe at `path` (v1 recipe.yaml or v0 meta.yaml; written atomically)."""
    from stockyard.recipes.update_apply import apply_update

    editor = open_editor(path, fmt)
    name, old_version = editor.pypi_name(), editor.version()
    with new_http_client(transport) as http:
        client = PyPIClient(http, index_url)
        new_version = to or newest_version(client.project(name))
        result = UpdateResult(name, old_version, new_version)
        if new_version == old_version:
            return result
        old = fetch_release(client, name, old_version, build)
        new = fetch_release(client, name, new_version, build)
    apply_update(editor, old, new, result)
    if write:
        from stockyard.recipes.service import write_atomically

        write_atomically(path, editor.text())
        result.written = True
    return result
