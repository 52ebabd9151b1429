"""Repodata patch instructions (`patch_instructions.json`) as conda-index applies them.

conda-index writes version 1 (and treats a missing version as 0). Version 2 is admitted with the
version 1 semantics; see stockyard.patches.apply.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta


class PatchInstructions(
    msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False
):
    """Changes to apply to a subdir's repodata.

    - `packages` / `packages.conda`: per filename, keys to set (wholesale; `null` removes the key).
      An entry for a `.tar.bz2` name also patches its `.conda` twin.
    - `revoke`: filenames to mark `revoked: true` (and depend on `package_has_been_revoked`).
    - `remove`: filenames to move out of the packages maps and into `removed`.
    """

    patch_instructions_version: Annotated[int, Meta(ge=0, le=2)] = 1
    packages: dict[str, dict[str, Any]] = {}
    packages_conda: dict[str, dict[str, Any]] = msgspec.field(default={}, name="packages.conda")
    revoke: list[str] = []
    remove: list[str] = []
