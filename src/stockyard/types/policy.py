"""A channel's policy: what is published for it and how, stored per channel in the catalog.

Every way into a channel (`stockyard index`, uploads, and later mirrors and jobs) reads the same
stored policy, so they publish the same bytes. `stockyard index` flags write it.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from stockyard.types.encoding import DEFAULT_ZSTD_LEVEL
from stockyard.types.errors import InvalidMetadata


class PublishOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which files are published for each subdir, and how."""

    #: CEP 16 sharded repodata.
    shards: bool = True
    #: zstd level of repodata.json.zst and shards.
    zst_level: Annotated[int, Meta(ge=1, le=22)] = DEFAULT_ZSTD_LEVEL
    #: Also repodata.json.bz2.
    bz2: bool = False
    #: Also conda-index's current_repodata.json.
    current_repodata: bool = False
    #: The channel's base URL (CEP 15); each subdir's `info.base_url` is `<base_url>/<subdir>/`.
    base_url: str | None = None
    #: index.html listings per subdir and at the channel root.
    html: bool = True

    def subdir_base_url(self, subdir: str) -> str | None:
        if not self.base_url:
            return None
        return f"{self.base_url.rstrip('/')}/{subdir}/"


class ChannelPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything that decides what a channel publishes, stored with the channel."""

    publish: PublishOptions = PublishOptions()
    #: A patch source (patch_instructions.json, a patch package, or a Python generator), as a
    #: path; relative paths are relative to the channel directory. None: no patches.
    patch_source: str | None = None
    #: Refuse uploads that carry legacy or non-standard metadata instead of warning.
    strict: bool = False
    #: Cache-Control max-age (seconds) of repodata, the shard index and channeldata; None: the
    #: server's setting.
    repodata_max_age: Annotated[int, Meta(ge=0)] | None = None


_decode_policy = msgspec.json.Decoder(ChannelPolicy).decode


def decode_policy(data: bytes) -> ChannelPolicy:
    """A stored policy; unreadable bytes are a clear error, never a silent default."""
    try:
        return _decode_policy(data)
    except msgspec.DecodeError as exc:
        raise InvalidMetadata(
            f"the stored channel policy is invalid: {exc}",
            hint="Set it again with `stockyard index` flags; see docs/architecture.md.",
        ) from exc
