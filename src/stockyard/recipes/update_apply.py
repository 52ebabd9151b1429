"""Apply an upstream delta to a round-trip recipe document (see update.py)."""

from __future__ import annotations

from typing import Any

from stockyard.recipes import recipe_file
from stockyard.recipes.license import find_license
from stockyard.recipes.names import normalize
from stockyard.recipes.update import Change, UpdateResult, upstream_delta
from stockyard.recipes.upstream import Release

_TARGET = {"run": ("run", "run_constraints"), "host": ("host",)}


def _noarch(document: Any) -> bool:
    return any(
        str((output.get("build") or {}).get("noarch", "")) == "python"
        for output in [document, *recipe_file.outputs(document)]
    )


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


def apply_update(document: Any, old: Release, new: Release, result: UpdateResult) -> None:
    document["context"]["version"] = new.version
    result.edits.append(f"version {old.version} -> {new.version}")
    _update_sha256(document, new, result)
    _reset_build_number(document)
    result.upstream = upstream_delta(old, new, _noarch(document))
    for change in result.upstream:
        _apply_change(document, change, result)
    _flag_for_human(old, new, result)


def _update_sha256(document: Any, new: Release, result: UpdateResult) -> None:
    sources = document.get("source")
    entries = sources if isinstance(sources, list) else [sources]
    updated = False
    for source in entries:
        if not isinstance(source, dict) or "sha256" not in source:
            continue
        url = str(source.get("url", ""))
        if ("/packages/" in url or "pythonhosted" in url) and new.sdist and not updated:
            source["sha256"] = new.sdist.sha256
            result.edits.append(f"sha256 {new.sdist.sha256}")
            updated = True
        else:
            result.needs_human.append(f"source {url} is not on PyPI: update its sha256 by hand")
    if not updated:
        result.needs_human.append("no PyPI source with a sha256 found: update the source by hand")


def _reset_build_number(document: Any) -> None:
    build = document.get("build")
    if isinstance(build, dict) and "number" in build:
        build["number"] = 0


def _apply_change(document: Any, change: Change, result: UpdateResult) -> None:
    touched = False
    for output in recipe_file.outputs(document):
        label = recipe_file.output_name(document, output)
        for section, entries in recipe_file.requirement_lists(output).items():
            if section not in _TARGET[change.section]:
                continue
            touched |= _edit_list(entries, change, f"{label}/{section}", result)
    if not touched and change.after is not None and change.before is None:
        _add_to_main(document, change, result)
    elif not touched and change.after is not None:
        result.needs_human.append(
            f"upstream changed {change.name} to '{change.after}' but the recipe has no such line"
        )


def _edit_list(entries: Any, change: Change, where: str, result: UpdateResult) -> bool:
    for index, entry in enumerate(list(entries)):
        spec = recipe_file.entry_spec(entry)
        if spec is None and isinstance(entry, dict) and isinstance(entry.get("then"), str):
            spec = str(entry["then"])
        if spec is None or spec.split()[0] != change.name:
            continue
        if change.after is None:
            del entries[index]
            result.edits.append(f"{where}: removed '{spec}'")
        else:
            new_spec = change.after
            if isinstance(entry, dict):
                entry["then"] = new_spec
            else:
                entries[index] = new_spec
            result.edits.append(f"{where}: '{spec}' -> '{new_spec}'")
        return True
    return False


def _add_to_main(document: Any, change: Change, result: UpdateResult) -> None:
    package = recipe_file.expand(
        str((document.get("package") or document.get("recipe") or {}).get("name", "")),
        document.get("context") or {},
    )
    outputs = recipe_file.outputs(document)
    main = next((o for o in outputs if recipe_file.output_name(document, o) == package), outputs[0])
    requirements = main.setdefault("requirements", {})
    requirements.setdefault(change.section, []).append(change.after)
    result.edits.append(f"{package}/{change.section}: added '{change.after}'")


def _flag_for_human(old: Release, new: Release, result: UpdateResult) -> None:
    old_extras = {normalize(extra) for extra in old.metadata.provides_extra}
    new_extras = {normalize(extra) for extra in new.metadata.provides_extra}
    added_extras = new_extras - old_extras
    if added_extras:
        result.needs_human.append(f"new extras upstream: {', '.join(sorted(added_extras))}")
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
