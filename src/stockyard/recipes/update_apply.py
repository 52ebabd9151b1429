"""Apply an upstream delta to a recipe through its format's editor (see update.py).

An editor (`update_v1.V1Editor` for recipe.yaml, `update_v0.V0Editor` for meta.yaml) knows
where a format keeps the version, the source hash, the build number and the requirement lists;
what changes, and what is flagged for a human, is decided here once for both formats.
"""

from __future__ import annotations

from typing import Protocol

from stockyard.recipes.deps import Converted
from stockyard.recipes.license import find_license
from stockyard.recipes.names import normalize
from stockyard.recipes.update import (
    Change,
    UpdateResult,
    added_extras,
    extras_lines,
    upstream_delta,
)
from stockyard.recipes.upstream import Release


class RecipeEditor(Protocol):
    def version(self) -> str: ...

    def pypi_name(self) -> str: ...

    def noarch_python(self) -> bool: ...

    def set_version(self, version: str) -> None: ...

    def set_sha256(self, new: Release, result: UpdateResult) -> None: ...

    def reset_build_number(self) -> None: ...

    def apply_change(self, change: Change, result: UpdateResult) -> None: ...

    def add_extra(self, extra: str, lines: Converted, result: UpdateResult) -> None: ...

    def packages_extras(self) -> bool: ...

    def text(self) -> str: ...


def _license(release: Release) -> str | None:
    metadata = release.metadata
    texts = [
        text
        for key, text in (release.wheel.dist_info.items() if release.wheel else [])
        if key not in ("entry_points.txt", "top_level.txt", "METADATA")
    ]
    finding = find_license(
        metadata.license_expression, metadata.classifiers, metadata.license, texts
    )
    return finding.spdx


def apply_update(editor: RecipeEditor, old: Release, new: Release, result: UpdateResult) -> None:
    editor.set_version(new.version)
    result.edits.append(f"version {old.version} -> {new.version}")
    editor.set_sha256(new, result)
    editor.reset_build_number()
    noarch = editor.noarch_python()
    result.upstream = upstream_delta(old, new, noarch)
    for change in result.upstream:
        editor.apply_change(change, result)
    _add_extras(editor, old, new, noarch, result)
    _flag_for_human(old, new, result)


def _add_extras(
    editor: RecipeEditor, old: Release, new: Release, noarch: bool, result: UpdateResult
) -> None:
    """New upstream extras become outputs when the recipe packages extras (or had none to)."""
    added = {
        extra: lines
        for extra, lines in added_extras(old, new, noarch).items()
        if lines.deps or lines.self_extras  # an extra adding nothing gets no output
    }
    if not added:
        return
    had_extras = any(
        lines.deps or lines.self_extras for lines in extras_lines(old, noarch).values()
    )
    if had_extras and not editor.packages_extras():
        result.needs_human.append(
            f"new extras upstream: {', '.join(added)} (the recipe packages none of the old "
            "ones, so no output was added)"
        )
        return
    for extra, lines in added.items():
        editor.add_extra(extra, lines, result)


def _flag_for_human(old: Release, new: Release, result: UpdateResult) -> None:
    old_extras = {normalize(extra) for extra in old.metadata.provides_extra}
    new_extras = {normalize(extra) for extra in new.metadata.provides_extra}
    removed_extras = old_extras - new_extras
    if removed_extras:
        result.needs_human.append(f"extras gone upstream: {', '.join(sorted(removed_extras))}")
    if old.wheels and new.wheels and old.pure != new.pure:
        now = "pure Python" if new.pure else "compiled (platform wheels)"
        result.needs_human.append(f"the package is now {now}: review noarch and compilers")
    result.license_before, result.license_after = _license(old), _license(new)
    if result.license_before != result.license_after:
        result.needs_human.append(
            f"LICENSE CHANGED upstream: {result.license_before} -> {result.license_after}"
        )
    for change in result.upstream:
        if change.section == "host" and change.after is not None and change.before is None:
            result.needs_human.append(f"new build requirement {change.after}: a new backend?")
