"""Typed shapes of the JSON API (they make the OpenAPI schema at /api/openapi.json)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from stockyard.types.identifiers import CHANNEL_COMPONENT_PATTERN


class ErrorOut(BaseModel):
    error: str = Field(description="The error's class, e.g. NotFound, Conflict, Unauthorized.")
    message: str
    hint: str = ""


class ChannelOut(BaseModel):
    name: str
    private: bool
    description: str | None = None
    url: str = Field(description="The channel URL for conda/pixi/rattler (-c URL).")
    created_at: int = Field(description="Milliseconds since the epoch.")


class ChannelDetailOut(ChannelOut):
    subdirs: list[str]
    package_count: int
    artifact_count: int
    last_upload: int | None = Field(
        None, description="Newest upload (indexed_timestamp), ms since the epoch."
    )
    labels: list[str] = Field(
        default_factory=list, description="Labels served at <url>/label/<label> (main: <url>)."
    )


#: An http(s) channel URL (a private one with /t/<token>/ in its path).
UpstreamUrl = Annotated[
    str, Field(max_length=2048, pattern=r"^https?://[A-Za-z0-9._~%-]+(:[0-9]{1,5})?(/[!-~]*)?$")
]


class ChannelCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=128,
        pattern=CHANNEL_COMPONENT_PATTERN,
        description="One path segment: lowercase letters, digits, '_', '.', '-' (CEP 26).",
    )
    private: bool = False
    description: str | None = Field(None, max_length=4096)
    proxy: list[UpstreamUrl] | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="Make it a proxy channel of these upstream channel URLs (tried in order).",
    )


class PackageSummaryOut(BaseModel):
    name: str
    version: str | None = Field(None, description="The latest version.")
    summary: str | None = None
    license: str | None = None
    home: str | None = None
    subdirs: list[str] = []
    timestamp: int | None = Field(None, description="Newest build time, seconds since the epoch.")


class PackageListOut(BaseModel):
    channel: str
    total: int
    limit: int
    offset: int
    packages: list[PackageSummaryOut]


class BuildOut(BaseModel):
    subdir: str
    filename: str
    version: str
    build: str
    build_number: int
    depends: list[str]
    constrains: list[str]
    license: str | None = None
    noarch: str | None = None
    size: int
    sha256: str
    md5: str
    uploaded_at: int = Field(description="When the artifact entered the channel, ms (CEP 47).")
    timestamp: int | None = Field(None, description="Build time from index.json, ms.")
    url: str = Field(description="Download URL (add /t/<token> for a private channel).")


class VersionOut(BaseModel):
    version: str
    builds: list[BuildOut]


class PackageDetailOut(BaseModel):
    channel: str
    name: str
    latest_version: str | None = None
    summary: str | None = None
    description: str | None = None
    license: str | None = None
    home: str | None = None
    dev_url: str | None = None
    doc_url: str | None = None
    subdirs: list[str]
    versions: list[VersionOut] = Field(description="Newest version first.")
    install: dict[str, str] = Field(description="Copy-paste install commands by client.")


class TokenOut(BaseModel):
    id: int
    prefix: str = Field(description="The first characters of the token (never the token).")
    scope: Literal["read", "write", "admin"]
    channel: str | None = Field(None, description="None: valid for every channel.")
    description: str | None = None
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None
    status: Literal["active", "expired", "revoked"]


class TokenCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["read", "write", "admin"]
    channel: str | None = Field(None, description="None: a server-wide token.")
    expires_in: float | None = Field(
        None, gt=0, le=100 * 366 * 86400, description="Seconds until it expires (<= 100 years)."
    )
    description: str | None = Field(None, max_length=256)


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The token itself; shown only in this response.")


class HealthOut(BaseModel):
    status: Literal["ok"]


class PackageChangeOut(BaseModel):
    channel: str
    subdir: str
    filename: str
    action: Literal["removed", "yanked", "restored", "copied", "moved"]


class PackageCopyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=128, pattern=CHANNEL_COMPONENT_PATTERN)
    move: bool = Field(False, description="Remove it from the source channel afterwards.")


class LabelOut(BaseModel):
    label: str
    url: str = Field(description="The label's channel URL for conda/pixi/rattler (-c URL).")
    package_count: int
    artifact_count: int


class LabelChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=32, description="Labels to give the artifact."
    )
    remove: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=32, description="Labels to take away (main: the root)."
    )


class LabelsOut(BaseModel):
    channel: str
    subdir: str
    filename: str
    labels: list[str] = Field(description="Every label the artifact carries; main is the root.")
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


class PatchSetOut(BaseModel):
    version: int
    kind: str = Field(description="yaml, instructions, tar or zip (as the content said).")
    sha256: str
    size: int
    created_at: int = Field(description="Milliseconds since the epoch.")
    created_by: str | None = None
    active: bool
    active_from: int | None = None
    active_until: int | None = None


class PatchSetsOut(BaseModel):
    channel: str
    current: int | None = Field(description="The version in force; null: none.")
    versions: list[PatchSetOut]


class SnapshotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=1024)


class SnapshotOut(BaseModel):
    id: str
    url: str = Field(description="Use it as a channel URL (-c URL).")
    created_at: int
    created_by: str | None = None
    patch_set_version: int | None = None
    subdirs: list[str]
    record_count: int
    description: str | None = None
