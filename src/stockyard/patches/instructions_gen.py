"""Patch instructions from patched records: what conda-forge's generator ships.

Given the unpatched repodata and the records a patch engine changed, `instructions_from_changes`
writes a complete `patch_instructions.json` (version 1, `packages`, `packages.conda`, `remove`,
`revoke`) holding, per record, only the keys that changed: the new value, or `null` for a key the
engine deleted. Applied with conda-index semantics (`stockyard.patches.apply`), the instructions
give exactly the engine's records:

- `.tar.bz2` records go under `packages`, `.conda` records under `packages.conda` (the routing of
  `apply`, by extension);
- conda-index also applies a `packages` entry to the `.conda` twin of its filename. When a twin
  exists, its `packages.conda` entry is computed against the twin as that entry leaves it, so
  it restores what the engine did not change there (or holds nothing when the twin was patched
  the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from stockyard.patches.apply import compile_patches, patch_record

INSTRUCTIONS_VERSION: Final = 1
SECTIONS: Final = ("packages", "packages.conda")
_CONDA: Final = ".conda"
_MISSING: Final = object()


def empty_instructions() -> dict[str, Any]:
    """Instructions that change nothing, with every key."""
    return {
        "patch_instructions_version": INSTRUCTIONS_VERSION,
        "packages": {},
        "packages.conda": {},
        "remove": [],
        "revoke": [],
    }


def complete_instructions(instructions: Mapping[str, Any]) -> dict[str, Any]:
    """`instructions` with the keys it leaves out filled in (values given are kept)."""
    complete = empty_instructions()
    complete.update({key: value for key, value in instructions.items() if value is not None})
    return complete


def record_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The patch turning `before` into `after`: changed or new keys with their new value, keys
    `after` lacks as null."""
    changes = {key: value for key, value in after.items() if before.get(key, _MISSING) != value}
    changes.update({key: None for key in before if key not in after})
    return changes


def _original(repodata: Mapping[str, Any], filename: str) -> Mapping[str, Any] | None:
    for section in SECTIONS:
        record = (repodata.get(section) or {}).get(filename)
        if record is not None:
            return record  # type: ignore[no-any-return]
    return None


def instructions_from_changes(
    repodata: Mapping[str, Any], changed: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Complete instructions turning `repodata`'s records into `changed` (filename -> the
    patched record, for the records that differ)."""
    instructions = empty_instructions()
    packages: dict[str, Any] = instructions["packages"]
    packages_conda: dict[str, Any] = instructions["packages.conda"]
    for filename, patched in changed.items():
        original = _original(repodata, filename)
        if original is None:
            continue  # patches never add records
        entry = record_changes(original, patched)
        if entry:
            (packages_conda if filename.endswith(_CONDA) else packages)[filename] = entry
    if packages:
        _correct_twins(repodata, changed, packages, packages_conda)
    return instructions


def _correct_twins(
    repodata: Mapping[str, Any],
    changed: Mapping[str, Mapping[str, Any]],
    packages: Mapping[str, Any],
    packages_conda: dict[str, Any],
) -> None:
    """Recompute the `packages.conda` entries of `.conda` twins that `packages` entries reach."""
    compiled = compile_patches({"packages": dict(packages)})
    conda_records: Mapping[str, dict[str, Any]] = repodata.get("packages.conda") or {}
    for filename in compiled.conda_patches:
        original = conda_records.get(filename)
        if original is None:
            continue
        reached = patch_record(compiled, filename, original)
        assert reached is not None  # `packages` entries never remove records
        entry = record_changes(reached, changed.get(filename, original))
        if entry:
            packages_conda[filename] = entry
        else:
            packages_conda.pop(filename, None)
