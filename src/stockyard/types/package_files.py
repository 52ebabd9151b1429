"""Other files in an artifact's `info/` directory (CEP 34): about.json, paths.json, link.json."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from stockyard.types.records import Sha256Hex


class AboutJson(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """`info/about.json`: free-form; these keys, when present, have these types."""

    summary: str | None = None
    description: str | None = None
    home: str | None = None
    dev_url: str | None = None
    doc_url: str | None = None
    doc_source_url: str | None = None
    license: str | None = None
    license_family: str | None = None
    license_file: str | list[str] | None = None
    channels: list[str] | None = None
    env_vars: dict[str, str] | None = None
    extra: dict[str, Any] | None = None
    tags: list[str] | str | None = None
    identifiers: list[str] | str | None = None
    keywords: list[str] | str | None = None
    source_url: str | list[str] | None = None
    source_git_url: str | None = None
    recipe_origin: str | None = None


class PathEntry(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    path: str = msgspec.field(name="_path")
    path_type: Literal["hardlink", "softlink", "directory"] = "hardlink"
    file_mode: Literal["binary", "text"] | None = None
    prefix_placeholder: str | None = None
    no_link: bool | None = None
    sha256: Sha256Hex | None = None
    size_in_bytes: Annotated[int, Meta(ge=0)] | None = None


class PathsJson(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """`info/paths.json`: every non-info file of the package."""

    paths_version: Annotated[int, Meta(ge=1)] = 1
    paths: list[PathEntry] = []


class NoarchLink(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    type: Literal["generic", "python"]
    entry_points: list[str] = []


class LinkJson(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    """`info/link.json`: how to link the package (noarch settings)."""

    package_metadata_version: Annotated[int, Meta(ge=1)] = 1
    noarch: NoarchLink | None = None
    preferred_env: dict[str, Any] | None = None
