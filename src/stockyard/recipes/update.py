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
from typing import Any

import httpx

from stockyard.recipes import recipe_file
from stockyard.recipes.deps import convert
from stockyard.recipes.errors import RecipeInvalid
from stockyard.recipes.pypi import PyPIClient, new_http_client, newest_version
from stockyard.recipes.upstream import Release, fetch_release


@dataclass
class Change:
    name: str
    before: str | None
    after: str | None
    section: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "section": self.section,
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


def upstream_delta(old: Release, new: Release, noarch: bool) -> list[Change]:
    changes = []
    for section, build in (("run", False), ("host", True)):
        before, after = _specs(old, build, noarch), _specs(new, build, noarch)
        for name in sorted(before.keys() | after.keys()):
            if before.get(name) != after.get(name):
                changes.append(Change(name, before.get(name), after.get(name), section))
    return changes


def _pypi_name(document: Any) -> str:
    context = document.get("context") or {}
    sources = document.get("source")
    for source in sources if isinstance(sources, list) else [sources or {}]:
        url = recipe_file.expand(str(source.get("url", "")), context)
        parts = url.split("/packages/source/")
        if len(parts) == 2 and parts[1].count("/") >= 2:
            return parts[1].split("/")[1]
    name = context.get("name") or (document.get("package") or document.get("recipe") or {}).get(
        "name"
    )
    if not name:
        raise RecipeInvalid("cannot tell the PyPI project of this recipe", hint="Add context.name.")
    return recipe_file.expand(str(name), context)


def update_recipe_file(
    path: Path, to: str | None, write: bool = True, transport: httpx.BaseTransport | None = None
) -> UpdateResult:
    """Update the v1 recipe at `path` (written atomically unless `write` is False)."""
    from stockyard.recipes.update_apply import apply_update

    document = recipe_file.load(path)
    context = document.get("context") or {}
    if "version" not in context:
        raise RecipeInvalid(f"{path} has no context.version", hint="Put the version in context.")
    name, old_version = _pypi_name(document), str(context["version"])
    with new_http_client(transport) as http:
        client = PyPIClient(http)
        new_version = to or newest_version(client.project(name))
        result = UpdateResult(name, old_version, new_version)
        if new_version == old_version:
            return result
        old, new = (
            fetch_release(client, name, old_version),
            fetch_release(client, name, new_version),
        )
    apply_update(document, old, new, result)
    if write:
        from stockyard.recipes.service import write_atomically

        write_atomically(path, recipe_file.dump(document))
        result.written = True
    return result
