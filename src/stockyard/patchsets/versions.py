"""Storing and activating patch-set versions of a channel.

A version's files live in `<channel>/.stockyard/patch-sets/v<N>/` (never served), its row in the
catalog (`patch_sets`: who, when, sha256, kind, when it was in force). Activating a version sets
the channel policy's `patch_source` to that folder and republishes; if the republish refuses the
patches (e.g. they touch server-controlled fields), the previous policy is restored, so nothing
published is ever half-patched.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from stockyard.catalog import Catalog, Channel, PatchSetRow, now_ms
from stockyard.index.workspace import STATE_DIR, ChannelWorkspace
from stockyard.patches.sources import load_patch_source
from stockyard.patchsets.unpack import MAX_PATCH_SET_BYTES, detect_kind, unpack
from stockyard.types.errors import InvalidMetadata, SizeLimitExceeded, StockyardError

__all__ = ["MAX_PATCH_SET_BYTES", "PatchSetContent", "activate_patch_set", "store_patch_set"]

PATCH_SETS_DIR = f"{STATE_DIR}/patch-sets"
#: The uploaded bytes, kept with each version (GET returns them).
ORIGINAL = "original"


@dataclass(frozen=True, slots=True)
class PatchSetContent:
    body: bytes
    #: Who stored it (a token's description or id), for the history.
    by: str | None = None


def store_patch_set(
    catalog: Catalog, channel: Channel, workspace: ChannelWorkspace, content: PatchSetContent
) -> PatchSetRow:
    """Check and store a new version (not yet in force). A patch set that does not load (bad
    YAML, a document the schema rejects, invalid instructions) is refused with the file, the
    document and the key in the message, and nothing is stored."""
    if len(content.body) > MAX_PATCH_SET_BYTES:
        raise SizeLimitExceeded(
            "patch set",
            f"larger than {MAX_PATCH_SET_BYTES} bytes",
            hint="Split it, or remove files the patches do not need.",
        )
    kind = detect_kind(content.body)
    root = workspace.directory / PATCH_SETS_DIR
    scratch = root / f".new-{secrets.token_hex(8)}"
    try:
        source = unpack(content.body, kind, scratch / "files")
        load_patch_source(str(source))  # raises with the file, document and key
        (scratch / ORIGINAL).write_bytes(content.body)
        row = catalog.add_patch_set(
            channel.id,
            kind=kind,
            sha256=hashlib.sha256(content.body).hexdigest(),
            size=len(content.body),
            path=str(root / "pending"),
            by=content.by,
        )
        final = root / f"v{row.version}"
        scratch.rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    catalog.set_patch_set_path(channel.id, row.version, str(final / source.relative_to(scratch)))
    return catalog.patch_set(channel.id, row.version)


def original_bytes(row: PatchSetRow) -> bytes:
    """The bytes that were uploaded for `row`."""
    # row.path is <version dir>/files/<what was unpacked>
    version_dir = next(p.parent for p in Path(row.path).parents if p.name == "files")
    return (version_dir / ORIGINAL).read_bytes()


def activate_patch_set(
    catalog: Catalog, channel: Channel, version: int | None, republish: Callable[[], None]
) -> PatchSetRow | None:
    """Put `version` in force (None: no stored patch set) and republish the channel with it.
    On a refused republish the previous policy stays in force and the error is raised."""
    row = catalog.patch_set(channel.id, version) if version is not None else None
    before = catalog.channel_policy(channel.id)
    previous = catalog.active_patch_set(channel.id)
    after = msgspec.structs.replace(before, patch_source=row.path if row else None)
    catalog.set_channel_policy(channel.id, after)
    try:
        republish()
    except StockyardError:
        catalog.set_channel_policy(channel.id, before)
        raise
    except Exception as exc:  # a crash in a patch engine must not leave the policy changed
        catalog.set_channel_policy(channel.id, before)
        raise InvalidMetadata(f"the patch set could not be applied: {exc}") from exc
    if previous is None or row is None or previous.version != row.version:
        catalog.mark_patch_set_active(channel.id, version, now_ms())
    return row
