"""Patch work in O(change): per-record patch YAML and "did only the changed entries change?".

Patch YAML rules judge one record at a time, so a subdir's instructions are the union of
per-record entries. After a commit, only the records it changed (and their `.tar.bz2`/`.conda`
twins, which one entry can reach) are patched again; every other entry is taken from the
subdir's published `patch_instructions.json`, which is trusted only when it is exactly what the
last publish wrote (its fingerprint is the subdir state's) and was made by the same rules (a
small record under `.stockyard/yaml-patches/`). Anything else (new rules, a lost file, a crash)
regenerates the whole subdir, as before.

`differ_only_within` lets any patch source avoid a full republish when its instructions differ
from the published ones only in the entries of the filenames the commit re-patches anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from stockyard.catalog import Catalog, Channel, SubdirState
from stockyard.patches.instructions_gen import complete_instructions, instructions_from_changes
from stockyard.publish.subdir import (
    EMPTY_INSTRUCTIONS,
    SubdirChange,
    patch_fingerprint,
    unpatched_repodata,
)
from stockyard.storage import Store
from stockyard.types.encoding import encode_json
from stockyard.types.repodata import PATCH_INSTRUCTIONS_JSON

if TYPE_CHECKING:
    from stockyard.patches.sources import YamlPatchSource

_SIDECAR = ".stockyard/yaml-patches/{subdir}.json"
_EMPTY_BYTES = encode_json(EMPTY_INSTRUCTIONS)
_SECTIONS = ("packages", "packages.conda")
_TAR_BZ2, _CONDA = ".tar.bz2", ".conda"


def published_instructions(
    store: Store, subdir: str, fingerprint: str | None
) -> dict[str, Any] | None:
    """The subdir's published patch instructions, if they are what the last publish (whose
    fingerprint the subdir state holds) wrote; else None."""
    key = f"{subdir}/{PATCH_INSTRUCTIONS_JSON}"
    if fingerprint is None or store.stat(key) is None:
        return None
    raw = store.get(key)
    # The file is `encode_json(instructions)` and the fingerprint its sha256: compare bytes,
    # decode only what matches (no re-encoding of a large file).
    if hashlib.sha256(raw).hexdigest() == fingerprint:
        data = msgspec.json.decode(raw)
        return data if isinstance(data, dict) else None
    if raw == _EMPTY_BYTES and patch_fingerprint({}) == fingerprint:
        return {}
    return None


def _twin(filename: str) -> str | None:
    if filename.endswith(_TAR_BZ2):
        return filename[: -len(_TAR_BZ2)] + _CONDA
    if filename.endswith(_CONDA):
        return filename[: -len(_CONDA)] + _TAR_BZ2
    return None


def differ_only_within(old: Mapping[str, Any], new: Mapping[str, Any], filenames: set[str]) -> bool:
    """Whether `new` equals `old` except for entries of `filenames` (whose records are patched
    again anyway). A changed `.tar.bz2` entry whose `.conda` twin is not in `filenames` counts
    as a difference: conda-index applies it to the twin too."""
    before, after = complete_instructions(old), complete_instructions(new)
    if before["patch_instructions_version"] != after["patch_instructions_version"]:
        return False
    for section in _SECTIONS:
        a, b = before[section], after[section]
        for filename in set(a) | set(b):
            if a.get(filename) == b.get(filename):
                continue
            twin = _twin(filename)
            reaches_twin = section == "packages" and twin is not None and twin not in filenames
            if filename not in filenames or reaches_twin:
                return False
    for key in ("remove", "revoke"):
        if set(before[key]) - filenames != set(after[key]) - filenames:
            return False
    return True


def yaml_instructions(
    catalog: Catalog,
    channel: Channel,
    store: Store,
    source: YamlPatchSource,
    subdir: str,
    change: SubdirChange | None,
    *,
    published: SubdirState | None = None,
) -> dict[str, Any]:
    """The subdir's instructions from patch YAML. On top of the published instructions (when
    `published`, the subdir's state before this commit, owes nothing), only the records of
    `change` are patched again; after a rules change, only those of the names whose rules
    changed. Anything else patches every record."""
    scope = None
    if published is not None and not published.dirty:
        scope = _scope(catalog, channel, store, source, subdir, change, published)
    if scope is None:
        repodata = unpatched_repodata(catalog, channel, subdir)
        instructions = source.instructions_for(subdir, repodata)
    else:
        base, filenames = scope
        instructions = _updated(catalog, channel, source, subdir, base, filenames)
    _remember(store, source, subdir, instructions)
    return instructions


def _scope(
    catalog: Catalog,
    channel: Channel,
    store: Store,
    source: YamlPatchSource,
    subdir: str,
    change: SubdirChange | None,
    published: SubdirState,
) -> tuple[dict[str, Any], set[str]] | None:
    """(the trusted published instructions, the filenames to patch again), or None."""
    trusted = _trusted_base(store, subdir, published)
    if trusted is None:
        return None
    base, remembered = trusted
    filenames = set(change.affected) if change is not None else set()
    if remembered.get("rules") == source.fingerprint:
        return base, filenames
    changed = changed_rule_names(
        remembered.get("digests"), source.rules, lambda: catalog.names_in_subdir(channel.id, subdir)
    )
    if changed is None:
        return None
    names, with_patched = changed
    if with_patched:  # a removed open rule could only have changed records that have entries
        patched = {f for section in _SECTIONS for f in base[section]}
        names |= catalog.names_for_filenames(channel.id, subdir, patched)
    return base, filenames | set(catalog.filenames_for_names(channel.id, subdir, names))


def changed_rule_names(
    old: list[list[Any]] | None, rules: Any, subdir_names: Callable[[], set[str]]
) -> tuple[set[str], bool] | None:
    """The package names whose applicable rules differ between the remembered rules `old`
    ([digest, literal names or None] in order) and `rules`, and whether an open rule (glob or
    no name) was removed (then every name with patched records counts too); None when that
    cannot be bounded (no record of the old rules, rules reordered)."""
    if old is None:
        return None
    old_digests = [entry[0] for entry in old]
    new_digests = [rule.digest.hex() for rule in rules.rules]
    common = set(old_digests) & set(new_digests)
    if [d for d in old_digests if d in common] != [d for d in new_digests if d in common]:
        return None  # the same rules in another order may patch differently
    names: set[str] = set()
    open_removed = False
    for digest, literal in old:
        if digest not in common:
            if literal is None:
                open_removed = True
            else:
                names |= set(literal)
    all_names: set[str] | None = None
    for rule in rules.rules:
        if rule.digest.hex() in common:
            continue
        if rule.names is not None:
            names |= set(rule.names)
        else:
            all_names = subdir_names() if all_names is None else all_names
            names |= {name for name in all_names if rule.accepts_name(name)}
    return names, open_removed


def _trusted_base(
    store: Store, subdir: str, state: SubdirState
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The published instructions and what we remembered of the rules that made them, when
    they are exactly what the last publish (`state`) wrote."""
    sidecar = _SIDECAR.format(subdir=subdir)
    if store.stat(sidecar) is None:
        return None
    remembered = msgspec.json.decode(store.get(sidecar))
    published = published_instructions(store, subdir, state.patch_fingerprint)
    if published is None or not isinstance(remembered, dict):
        return None
    # The sidecar describes the published file when it noted that very fingerprint (set as the
    # instructions its rules made were about to be published), else when its sections match.
    if remembered.get("published") != state.patch_fingerprint and remembered.get(
        "sections"
    ) != _sections_fingerprint(published):
        return None
    return complete_instructions(published), remembered


def _updated(
    catalog: Catalog,
    channel: Channel,
    source: YamlPatchSource,
    subdir: str,
    base: dict[str, Any],
    affected: Iterable[str],
) -> dict[str, Any]:
    """`base` with the entries of `affected` (and their twins) computed again."""
    scope = set(affected)
    scope |= {twin for name in scope if (twin := _twin(name)) is not None}
    repodata: dict[str, Any] = {"info": {"subdir": subdir}, "packages": {}, "packages.conda": {}}
    for filename, raw in catalog.records_for_filenames(channel.id, subdir, scope):
        section = "packages.conda" if filename.endswith(_CONDA) else "packages"
        repodata[section][filename] = msgspec.json.decode(raw)
    partial = instructions_from_changes(repodata, source.rules.changed_records(repodata, subdir))
    result = complete_instructions(base)
    for section in _SECTIONS:
        kept = {k: v for k, v in result[section].items() if k not in scope}
        result[section] = dict(sorted({**kept, **partial[section]}.items()))
    result["revoke"], result["remove"] = [], []  # patch YAML never revokes or removes
    return result


def _sections_fingerprint(instructions: Mapping[str, Any]) -> str:
    complete = complete_instructions(instructions)
    return patch_fingerprint({section: complete[section] for section in _SECTIONS})


def _sidecar(store: Store, subdir: str) -> dict[str, Any] | None:
    key = _SIDECAR.format(subdir=subdir)
    if store.stat(key) is None:
        return None
    try:
        remembered = msgspec.json.decode(store.get(key))
    except msgspec.DecodeError:
        return None
    return remembered if isinstance(remembered, dict) else None


def yaml_unchanged(
    store: Store, source: YamlPatchSource, subdir: str, published: SubdirState
) -> bool:
    """Whether a subdir that owes nothing and that this commit does not touch would get the
    instructions it was published with: the same rules made them, and they (yanks included)
    are what the last publish wrote. Then nothing is computed or decoded at all."""
    remembered = _sidecar(store, subdir)
    return (
        remembered is not None
        and remembered.get("rules") == source.fingerprint
        and remembered.get("published") == published.patch_fingerprint
    )


def remember_published(store: Store, subdir: str, fingerprint: str) -> None:
    """Note the fingerprint of the complete instructions (yanks included) about to be
    published from the rules the sidecar names."""
    remembered = _sidecar(store, subdir)
    if remembered is not None and remembered.get("published") != fingerprint:
        store.put(
            _SIDECAR.format(subdir=subdir), encode_json({**remembered, "published": fingerprint})
        )


def _remember(store: Store, source: YamlPatchSource, subdir: str, instructions: Any) -> None:
    record = {
        "rules": source.fingerprint,
        "sections": _sections_fingerprint(instructions),
        "digests": [
            [rule.digest.hex(), sorted(rule.names) if rule.names is not None else None]
            for rule in source.rules.rules
        ],
    }
    store.put(_SIDECAR.format(subdir=subdir), encode_json(record))
