"""Reading and writing a channel's stored policy for a way in (index flags, the server)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from stockyard.types.labels import is_label_channel, split_label_channel
from stockyard.types.policy import ChannelPolicy, PublishOptions

if TYPE_CHECKING:
    from stockyard.catalog import Catalog, Channel
    from stockyard.patches.sources import PatchSource


def effective_policy(catalog: Catalog, channel: Channel) -> ChannelPolicy:
    """The policy a commit to `channel` follows: its own, or for a label its channel's (a
    label publishes, patches and checks uploads exactly as the channel root does)."""
    if is_label_channel(channel.name):
        parent = catalog.get_channel(split_label_channel(channel.name)[0])
        if parent is not None:
            return catalog.channel_policy(parent.id)
    return catalog.channel_policy(channel.id)


def updated_policy(
    policy: ChannelPolicy,
    publish: PublishOptions | None = None,
    patch_source: str | None = None,
) -> ChannelPolicy:
    """`policy` with what was given replacing its parts."""
    if publish is not None:
        policy = msgspec.structs.replace(policy, publish=publish)
    if patch_source is not None:
        policy = msgspec.structs.replace(policy, patch_source=_stored_spec(patch_source))
    return policy


def _stored_spec(spec: str) -> str | None:
    """A path given relative to the working directory is stored absolute, so the server (which
    runs elsewhere) finds it; anything else (a package name in the channel) is kept as given."""
    if not spec:
        return None
    path = Path(spec)
    if not path.is_absolute() and path.exists():
        return str(path.resolve())
    return spec


def load_policy_patch_source(policy: ChannelPolicy, channel_dir: Path) -> PatchSource | None:
    """The policy's patch source, loaded and checked (a bad one fails before anything is
    touched)."""
    if not policy.patch_source:
        return None
    # Imported here: most channels have no patch source, and it is not cheap to import.
    from stockyard.patches.sources import load_patch_source

    return load_patch_source(policy.patch_source, channel_dir=channel_dir)
