"""Rendering a channel subdir as it was at a time T.

The records are those whose `indexed_timestamp` (when they became available, CEP 47) is at or
before T and that had not left by T (the catalog keeps every artifact that left, with when:
`artifact_history`), patched with the stored patch-set version that was in force at T (not
today's), with `removed` as it was. A channel that never stored a patch-set version (its patches
come from a file given to `stockyard index`) has no patch history: its current patch source is
applied, and the response says so in `info.as_of.patches`.

Renders are cached per (subdir, the subdir's last change at or before T, patch-set version) in
`<channel>/.stockyard/as-of/` of the channel's local directory (with bucket storage, each
replica's working area: the key names the catalog state, so every replica renders the same
bytes): every T between two changes gives the same bytes. Nothing here reads the channel's
store; the server looks the artifacts of a view up there (server/as_of_files.py).

Not rendered: shards (clients fall back to repodata.json when the shard index is missing),
current_repodata.json, and CEP 48 `v3` records (left out). Yanks apply as they are now: the
catalog does not keep when a package was yanked.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec

from stockyard.catalog import Catalog, Channel, PatchSetRow, now_ms
from stockyard.index.workspace import STATE_DIR
from stockyard.patches.apply import apply_patch_instructions, compile_patches, patch_record
from stockyard.patches.sources import GeneratorPatchSource, load_patch_source
from stockyard.publish.revisions import may_need_v3, needs_v3
from stockyard.types.encoding import encode_json, join_json_object, zstd_compress
from stockyard.types.errors import InvalidIdentifier, NotFound
from stockyard.types.repodata import REPODATA_JSON

#: The URL segment: `/<channel>/as-of/<T>/<subdir>/repodata.json`.
AS_OF_SEGMENT: Final = "as-of"
CACHE_DIR: Final = f"{STATE_DIR}/as-of"
_MILLIS = re.compile(r"\d{1,15}")
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]00:00)")
_HINT: Final = "Give an RFC 3339 UTC time (2026-11-01T00:00:00Z) or epoch milliseconds."


@dataclass(frozen=True, slots=True)
class AsOfView:
    channel: Channel
    #: The channel's local directory (`DataLayout.channel_dir`): renders are cached in its
    #: `.stockyard/as-of/`. With bucket storage it is only the replica's working area, which is
    #: all a render needs: records and patch-set versions come from the catalog.
    channel_dir: Path
    at: int


def parse_as_of(text: str, *, now: int | None = None) -> int:
    """Epoch milliseconds of `text`; InvalidIdentifier for anything else or a future time."""
    if _MILLIS.fullmatch(text):
        at = int(text)
    elif _RFC3339.fullmatch(text):
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:  # month 13, February 30...
            raise InvalidIdentifier(f"as-of time {text[:64]!r} is not a time", hint=_HINT) from None
        at = int(stamp.astimezone(UTC).timestamp() * 1000)
    else:
        raise InvalidIdentifier(f"as-of time {text[:64]!r} is not a time", hint=_HINT)
    if at > (now if now is not None else now_ms()):
        raise InvalidIdentifier(
            f"as-of time {text[:64]!r} is in the future",
            hint="The past is fixed; the future is not: use the live channel URL.",
        )
    return at


def render_as_of(catalog: Catalog, view: AsOfView, subdir: str) -> Path:
    """The path of `repodata.json` of `subdir` as of `view.at` (with a `.zst` next to it),
    rendered now or taken from the cache."""
    if view.at < view.channel.created_at:
        raise NotFound(
            f"channel {view.channel.name} did not exist at {view.at} (created "
            f"{view.channel.created_at}, epoch ms)",
            hint="Pick a later time.",
        )
    if subdir not in {*catalog.known_subdirs(view.channel.id), "noarch"}:
        raise NotFound(f"channel {view.channel.name} has no subdir {subdir!r}")
    ever, patch_set = catalog.patch_set_at(view.channel.id, view.at)
    changed = catalog.last_change_before(view.channel.id, subdir, view.at)
    key = f"{changed}-{patch_set.version if patch_set else 0}-{int(ever)}"
    target = view.channel_dir / CACHE_DIR / subdir / key / REPODATA_JSON
    if not target.is_file():
        _write_atomically(target, _render(catalog, view, subdir, ever, patch_set))
    return target


def _render(
    catalog: Catalog, view: AsOfView, subdir: str, ever: bool, patch_set: PatchSetRow | None
) -> bytes:
    """The encoded repodata.json. Records keep their stored bytes (joined, not re-encoded)
    unless patches touch them; only patch sources that read the whole repodata (patch YAML,
    Python generators) need every record decoded."""
    source, patches = _patch_source(catalog, view, ever, patch_set)
    rows = catalog.records_as_of(view.channel.id, subdir, view.at)
    removed = set(catalog.removed_as_of(view.channel.id, subdir, view.at))
    info = {"subdir": subdir, "as_of": {"time_ms": view.at, "patches": patches}}
    if isinstance(source, GeneratorPatchSource):
        return _render_decoded(source, subdir, rows, removed, info)
    instructions = source.instructions_for(subdir, {}) if source is not None else {}
    compiled = compile_patches(instructions) if instructions else None
    sections: dict[str, list[tuple[str, bytes]]] = {"packages": [], "packages.conda": []}
    for filename, raw in rows:
        if may_need_v3(raw) and needs_v3(msgspec.json.decode(raw)):
            continue  # CEP 48 v3 records are left out of as-of views
        if compiled is not None and filename in compiled.touched:
            patched = patch_record(compiled, filename, msgspec.json.decode(raw))
            if patched is None:
                removed.add(filename)
                continue
            raw = encode_json(patched)
        sections[_section(filename)].append((filename, raw))
    return b"".join(
        (
            b'{"info":' + encode_json(info),
            b',"packages":' + join_json_object(sections["packages"]),
            b',"packages.conda":' + join_json_object(sections["packages.conda"]),
            b',"removed":' + encode_json(sorted(removed)),
            b',"repodata_version":1}',
        )
    )


def _section(filename: str) -> str:
    return "packages.conda" if filename.endswith(".conda") else "packages"


def _render_decoded(
    source: Any,
    subdir: str,
    rows: list[tuple[str, bytes]],
    removed: set[str],
    info: dict[str, Any],
) -> bytes:
    repodata: dict[str, Any] = {
        "info": {"subdir": subdir},
        "packages": {},
        "packages.conda": {},
        "removed": sorted(removed),
        "repodata_version": 1,
    }
    for filename, raw in rows:
        record = msgspec.json.decode(raw)
        if not needs_v3(record):
            repodata[_section(filename)][filename] = record
    repodata = apply_patch_instructions(repodata, source.instructions_for(subdir, repodata))
    repodata["info"] = info
    return encode_json(repodata)


def _patch_source(
    catalog: Catalog, view: AsOfView, ever: bool, patch_set: PatchSetRow | None
) -> tuple[Any, str]:
    if patch_set is not None:
        return load_patch_source(patch_set.path), f"patch set version {patch_set.version}"
    if ever or catalog.patch_sets(view.channel.id):
        return None, "none in force at that time"
    current = catalog.channel_policy(view.channel.id).patch_source
    if not current:
        return None, "none"
    return load_patch_source(current, channel_dir=view.channel_dir), "current (no history)"


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for path, payload in (
        (target.with_name(target.name + ".zst"), zstd_compress(data)),
        (target, data),
    ):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        temp.write_bytes(payload)
        os.replace(temp, path)
