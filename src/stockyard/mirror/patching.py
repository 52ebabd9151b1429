"""Mirroring upstream's *patched* records faithfully.

The target publishes records it builds from the artifacts themselves (as `stockyard index`
does), so it needs a patch source that turns those into the records upstream serves. Per
subdir, the patch of each record is what differs between the two (keys changed or added, keys
upstream lacks as `null`, nested objects patched key by key), computed against the record as
conda-index semantics leave it (a `.tar.bz2` entry also patches its `.conda` twin, see
`stockyard.patches.apply`). Keys only the server may set (hashes, size, `indexed_timestamp`)
are left to the target. The instructions are then applied and compared with upstream's records:
what they cannot express (a key upstream holds as `null` while the artifact has a value: a
`null` patch deletes a key) is reported, not hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from stockyard.patches.apply import SERVER_CONTROLLED_KEYS, compile_patches, patch_record
from stockyard.patches.instructions_gen import empty_instructions

_MISSING: Final = object()
_TAR_BZ2: Final = ".tar.bz2"
_CONDA: Final = ".conda"


def wanted_record(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
    """Upstream's record, with the server-controlled keys as the target has them."""
    wanted = {k: v for k, v in theirs.items() if k not in SERVER_CONTROLLED_KEYS}
    wanted.update({k: v for k, v in ours.items() if k in SERVER_CONTROLLED_KEYS})
    return wanted


def record_patch(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The patch entry turning `before` into `after` under conda-index's merge rules."""
    patch: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key, _MISSING)
        if old == value:
            continue
        if isinstance(value, dict) and isinstance(old, dict):
            patch[key] = record_patch(old, value)  # dicts are merged, so patch key by key
        else:
            patch[key] = value
    patch.update({key: None for key in before if key not in after})
    return patch


def faithful_instructions(
    ours: Mapping[str, Mapping[str, Any]], theirs: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """Instructions turning `ours` (filename -> the target's record) into `theirs` (filename ->
    upstream's record), and the filenames they cannot reproduce exactly."""
    wanted = {f: wanted_record(ours[f], theirs[f]) for f in theirs if f in ours}
    instructions = empty_instructions()
    for filename in sorted(f for f in wanted if f.endswith(_TAR_BZ2)):
        entry = record_patch(ours[filename], wanted[filename])
        if entry:
            instructions["packages"][filename] = entry
    reached = compile_patches({"packages": instructions["packages"]})
    for filename in sorted(f for f in wanted if f.endswith(_CONDA)):
        before = patch_record(reached, filename, dict(ours[filename]))
        entry = record_patch(before or {}, wanted[filename])
        if entry:
            instructions["packages.conda"][filename] = entry
    compiled = compile_patches(instructions)
    unfaithful = sorted(
        f for f, record in wanted.items() if patch_record(compiled, f, dict(ours[f])) != record
    )
    return instructions, unfaithful


def changes_anything(instructions: Mapping[str, Any]) -> bool:
    return any(instructions.get(k) for k in ("packages", "packages.conda", "remove", "revoke"))
