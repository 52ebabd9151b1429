"""Repodata patch instructions (`patch_instructions.json`), versions 1 and 2, as conda-index
applies them."""

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

    patch_instructions_version: Annotated[int, Meta(ge=1, le=2)] = 1
    packages: dict[str, dict[str, Any]] = {}
    packages_conda: dict[str, dict[str, Any]] = msgspec.field(default={}, name="packages.conda")
    revoke: list[str] = []
    remove: list[str] = []
