"""`channeldata.json` at the channel root (CEP 38): one summary entry per package name."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from stockyard.types.records import RunExports, Subdir


class ChanneldataPackage(
    msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False
):
    """What a channel knows about one package name, taken from its newest artifact.

    CEP 38 requires `version`, `subdirs`, `timestamp` (seconds), `run_exports` and the flags.
    """

    version: str
    subdirs: list[Subdir]
    timestamp: Annotated[int, Meta(ge=0, description="Seconds since the epoch (CEP 38).")]
    summary: str | None = None
    description: str | None = None
    license: str | None = None
    license_family: str | None = None
    home: str | None = None
    dev_url: str | None = None
    doc_url: str | None = None
    doc_source_url: str | None = None
    source_url: str | list[str] | None = None
    source_git_url: str | None = None
    recipe_origin: str | None = None
    reference_package: str | None = None
    icon_url: str | None = None
    icon_hash: str | None = None
    keywords: list[str] | str | None = None
    tags: list[str] | str | None = None
    identifiers: list[str] | str | None = None
    #: version -> run_exports of that version's newest artifact.
    run_exports: dict[str, RunExports]
    #: Flags from paths.json: whether any artifact ships these scripts or prefixes.
    activate_d: bool = msgspec.field(name="activate.d")
    deactivate_d: bool = msgspec.field(name="deactivate.d")
    post_link: bool
    pre_link: bool
    pre_unlink: bool
    binary_prefix: bool
    text_prefix: bool


class Channeldata(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    channeldata_version: Annotated[int, Meta(ge=1)]
    packages: dict[str, ChanneldataPackage]
    subdirs: list[Subdir]
    extra: dict[str, Any] | None = None
