"""Apply repodata patch instructions (`patch_instructions.json`) the way conda-index does.

Semantics (conda-index `conda_index/index/__init__.py::_apply_instructions` and
`conda_index/utils_build.py::merge_or_update_dict(merge=False, add_missing_keys=False)`):

- `packages` entries patch the `.tar.bz2` record of that filename; the same entry also patches
  the `.conda` twin (the key with `.tar.bz2` replaced by `.conda`). `packages.conda` entries are
  applied after that, to `.conda` records only; they never flow back to `.tar.bz2` records.
  Entries for filenames not in the repodata are ignored (patches never add records).
- Within a record, keys are set wholesale: a list replaces the old list, a scalar replaces the
  old value. A `null` value deletes the key when the record has it, and stores `null` when it
  does not (conda-index's `merge_or_update_dict` quirk, kept for byte-compatible output). A dict
  value is merged recursively into an existing dict value under the same rules, and stored as
  given when the record has no dict there.
- `revoke`: the record (and the `.conda` twin of a `.tar.bz2` name) gets `revoked: true` and
  `package_has_been_revoked` appended to `depends`, once per occurrence in the list.
- `remove`: the record (and the `.conda` twin of a `.tar.bz2` name) leaves the packages maps;
  every filename actually removed is added to `removed`, which is sorted.
- `patch_instructions_version`: conda-index writes 1 and refuses anything greater. Our model
  admits 0 (conda-index's default when the key is missing), 1 and 2, and applies 2 with the
  version 1 semantics: no tool defines anything else for it, and a document our schema accepts
  must be applicable. 3 and above are refused.

Deliberate differences, all for inputs conda-index mishandles: the input is never mutated and
patch values are copied (conda-index shares list objects between the instructions and both
twins, so revoking a patched twin pair appends the revocation marker twice to each);
a record without `depends` can still be revoked (conda-index raises KeyError); `removed` holds
each filename once; filenames are routed by extension (`.conda` names are `packages.conda`
records, everything else is a `packages` record).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from stockyard.types.errors import InvalidMetadata
from stockyard.types.patches import PatchInstructions

REVOKED_DEPENDENCY = "package_has_been_revoked"

_TAR_BZ2 = ".tar.bz2"
_CONDA = ".conda"


@dataclass(frozen=True)
class CompiledPatches:
    """Patch instructions indexed by the filename they touch, built once per instruction set.

    `tar_patches` are the `packages` entries; `conda_patches` lists, per `.conda` filename, the
    entries that apply to it in application order (the `.tar.bz2` twin's entry, then its own
    `packages.conda` entry). `revoke_counts` and `removed` are keyed by final filename.
    """

    tar_patches: Mapping[str, Mapping[str, Any]]
    conda_patches: Mapping[str, tuple[Mapping[str, Any], ...]]
    revoke_counts: Mapping[str, int]
    removed: frozenset[str]

    @property
    def touched(self) -> frozenset[str]:
        """Every filename whose record these instructions may change or remove."""
        return frozenset(
            {*self.tar_patches, *self.conda_patches, *self.revoke_counts, *self.removed}
        )


def _conda_name(filename: str) -> str:
    # conda-index uses str.replace, not a suffix swap; a '.tar.bz2' inside a name is not valid
    # CEP 26, so the two agree on every real filename.
    return filename.replace(_TAR_BZ2, _CONDA)


def _twin_targets(filename: str) -> list[str]:
    """The filenames a `revoke` / `remove` entry reaches, routed by extension."""
    targets = [] if filename.endswith(_CONDA) else [filename]
    conda = _conda_name(filename) if filename.endswith(_TAR_BZ2) else filename
    if conda.endswith(_CONDA):
        targets.append(conda)
    return targets


def _locate_bad_entry(instructions: Any) -> str | None:
    """A precise pointer for the most common mistake: a filename mapped to a non-object."""
    if not isinstance(instructions, dict):
        return None
    for key in ("packages", "packages.conda"):
        entries = instructions.get(key)
        if isinstance(entries, dict):
            for filename, patch in entries.items():
                if not isinstance(patch, dict):
                    return f"$[{key!r}][{filename!r}] must be an object, got {type(patch).__name__}"
    return None


#: Record keys only the server sets: the hashes and size of the bytes it serves, and when it
#: made them available (CEP 47 SHOULD NOT be patched). Patches that set one are refused.
SERVER_CONTROLLED_KEYS = frozenset(
    {"indexed_timestamp", "md5", "sha256", "size", "legacy_bz2_md5", "legacy_bz2_size"}
)


def validate_instructions(instructions: Any, *, origin: str = "patch instructions") -> None:
    """Check `instructions` against the schema, and that no record patch sets a key the server
    controls; raise InvalidMetadata naming the bad part."""
    try:
        msgspec.convert(instructions, PatchInstructions)
    except msgspec.ValidationError as exc:
        detail = _locate_bad_entry(instructions) or str(exc)
        raise InvalidMetadata(
            f"{origin} are invalid: {detail}",
            hint="Patch instructions map filenames to objects of record keys under 'packages' "
            "and 'packages.conda', and list filenames under 'revoke' and 'remove'.",
        ) from exc
    for section in ("packages", "packages.conda"):
        for filename, patch in (instructions.get(section) or {}).items():
            controlled = sorted(SERVER_CONTROLLED_KEYS.intersection(patch))
            if controlled:
                raise InvalidMetadata(
                    f"{origin}: $[{section!r}][{filename!r}] sets {controlled[0]!r}, which only "
                    "the server sets",
                    hint="Remove it from the patch: hashes, size and indexed_timestamp (CEP 47) "
                    "describe the served bytes and when they became available.",
                )


def compile_patches(instructions: dict[str, Any]) -> CompiledPatches:
    """Validate `instructions` and index them by filename.

    Raises InvalidMetadata when they do not match the patch instructions schema.
    """
    validate_instructions(instructions)
    packages: dict[str, Any] = instructions.get("packages") or {}
    packages_conda: dict[str, Any] = instructions.get("packages.conda") or {}

    # conda-index builds {name.replace('.tar.bz2', '.conda'): patch} from `packages`; a later key
    # mapping to the same name wins, which a dict comprehension reproduces.
    derived = {_conda_name(filename): patch for filename, patch in packages.items()}
    conda_patches: dict[str, tuple[Mapping[str, Any], ...]] = {}
    for filename, patch in derived.items():
        if filename.endswith(_CONDA):
            conda_patches[filename] = (patch,)
    for filename, patch in packages_conda.items():
        if filename.endswith(_CONDA):
            conda_patches[filename] = (*conda_patches.get(filename, ()), patch)

    revoke_counts: Counter[str] = Counter()
    for filename in instructions.get("revoke") or ():
        revoke_counts.update(_twin_targets(filename))
    removed = frozenset(
        target
        for filename in instructions.get("remove") or ()
        for target in _twin_targets(filename)
    )
    tar_patches = {name: patch for name, patch in packages.items() if not name.endswith(_CONDA)}
    return CompiledPatches(
        tar_patches=tar_patches,
        conda_patches=conda_patches,
        revoke_counts=dict(revoke_counts),
        removed=removed,
    )


def _copy_json(value: Any) -> Any:
    """A copy of a JSON value, so patched records never share containers with instructions."""
    if isinstance(value, list):
        copied = value.copy()
        # Lists of strings (depends, constrains) are the common case: one shallow copy.
        for index, item in enumerate(copied):
            if isinstance(item, (dict, list)):
                copied[index] = _copy_json(item)
        return copied
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    return value


def _merge(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`merge_or_update_dict(target, patch, merge=False)` on a copy of `target`."""
    result = dict(target)
    for key, value in patch.items():
        if isinstance(value, dict):
            current = result.get(key)
            if isinstance(current, dict):
                # conda-index leaves an equal sub-dict alone (even one holding nulls).
                if current != value:
                    result[key] = _merge(current, value)
            else:
                result[key] = _copy_json(value)
        elif value is None:
            if key in result:
                del result[key]
            else:
                result[key] = None
        elif isinstance(value, list):
            result[key] = _copy_json(value)
        else:
            result[key] = value
    return result


def _patched(record: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    if not patch or record == patch:
        return record
    merged = _merge(record, patch)
    return record if merged == record else merged


def _as_list(depends: Any) -> list[Any]:
    # Malformed records may hold null or a lone string; revoking must still work.
    if isinstance(depends, list):
        return depends
    return [] if depends is None else [depends]


def patch_record(
    compiled: CompiledPatches, filename: str, record: dict[str, Any]
) -> dict[str, Any] | None:
    """The record after patching: a new dict if changed, `record` itself if untouched, or None
    when the instructions remove it. `record` is never mutated."""
    if filename in compiled.removed:
        return None
    if filename.endswith(_CONDA):
        patches = compiled.conda_patches.get(filename, ())
    else:
        tar_patch = compiled.tar_patches.get(filename)
        patches = (tar_patch,) if tar_patch is not None else ()
    result = record
    for patch in patches:
        result = _patched(result, patch)
    revocations = compiled.revoke_counts.get(filename, 0)
    if revocations:
        if result is record:
            result = dict(record)
        result["revoked"] = True
        result["depends"] = [*_as_list(result.get("depends")), *[REVOKED_DEPENDENCY] * revocations]
    return result


def patch_removed_filenames(compiled: CompiledPatches, present: Iterable[str]) -> list[str]:
    """The filenames among `present` that the instructions remove, sorted."""
    candidates = present if isinstance(present, (set, frozenset)) else set(present)
    if len(compiled.removed) < len(candidates):
        return sorted(name for name in compiled.removed if name in candidates)
    return sorted(name for name in candidates if name in compiled.removed)


def apply_patch_instructions(
    repodata: dict[str, Any], instructions: dict[str, Any]
) -> dict[str, Any]:
    """Return a patched copy of `repodata` (`packages`, `packages.conda`, `removed`, ...).

    Only records the instructions touch are copied; everything else is shared with the input,
    which is never mutated. Raises InvalidMetadata for invalid instructions.
    """
    compiled = compile_patches(instructions)
    result = dict(repodata)
    removed = set(repodata.get("removed") or ())
    touched = compiled.touched
    for key in ("packages", "packages.conda"):
        records: dict[str, dict[str, Any]] | None = repodata.get(key)
        if not records:
            continue
        copied: dict[str, dict[str, Any]] | None = None
        names = (
            [name for name in touched if name in records]
            if len(touched) < len(records)
            else [name for name in records if name in touched]
        )
        for name in names:
            record = records[name]
            patched = patch_record(compiled, name, record)
            if patched is record:
                continue
            if copied is None:
                copied = dict(records)
            if patched is None:
                del copied[name]
                removed.add(name)
            else:
                copied[name] = patched
        if copied is not None:
            result[key] = copied
    result["removed"] = sorted(removed)
    return result
