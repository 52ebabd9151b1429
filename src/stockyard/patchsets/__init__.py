"""Patch sets with history on a served channel: each upload is an immutable, numbered version;
one is in force (the channel policy's patch source); rolling back is activating an older one."""

from stockyard.patchsets.versions import (
    MAX_PATCH_SET_BYTES,
    PatchSetContent,
    activate_patch_set,
    store_patch_set,
)

__all__ = ["MAX_PATCH_SET_BYTES", "PatchSetContent", "activate_patch_set", "store_patch_set"]
