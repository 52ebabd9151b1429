"""Adding and removing labels, each through the one commit path.

Adding a label copies the artifact into the label's channel (`index.manage.copy_package`: same
bytes, hard-linked where possible, same `indexed_timestamp`); removing one removes it from there
(listed in that label's `removed`). Moving a package to `broken` is `add broken, remove main`.
Adds happen before removes, so a package is never without a copy half-way; removing every
label is refused (remove the package instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from stockyard.catalog import Catalog
from stockyard.index.lock import DEFAULT_LOCK_TIMEOUT
from stockyard.index.manage import ChannelHandle, copy_package, remove_package
from stockyard.types.errors import Conflict, InvalidIdentifier, NotFound
from stockyard.types.labels import (
    DEFAULT_LABEL,
    check_served_label,
    label_channel_name,
    split_label_channel,
)


class ChannelHandles(Protocol):
    """Where a deployment keeps channels (the server's data directory, for instance)."""

    def handle(self, name: str) -> ChannelHandle:
        """The existing channel `name`; NotFound if there is none."""
        ...

    def label_handle(self, channel: str, label: str) -> ChannelHandle:
        """`channel`'s label, its channel created (empty, published) when it does not exist."""
        ...


@dataclass(frozen=True, slots=True)
class LabelChange:
    """What `relabel` did, for the CLI and the API."""

    channel: str
    subdir: str
    filename: str
    labels: list[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "subdir": self.subdir,
            "filename": self.filename,
            "labels": self.labels,
            "added": self.added,
            "removed": self.removed,
        }


def channel_labels(catalog: Catalog, channel: str) -> list[str]:
    """Every label of `channel` that has a channel: `main` first, then by name."""
    catalog.require_channel(channel)
    others = [split_label_channel(c.name)[1] for c in catalog.label_channels(channel)]
    return [DEFAULT_LABEL, *others]


def labels_of(catalog: Catalog, channel: str, subdir: str, filename: str) -> list[str]:
    """The labels `subdir/filename` carries in `channel` (empty if none)."""
    root = catalog.require_channel(channel)
    found = [DEFAULT_LABEL] if catalog.artifact(root.id, subdir, filename) else []
    for label_channel in catalog.label_channels(channel):
        if catalog.artifact(label_channel.id, subdir, filename) is not None:
            found.append(split_label_channel(label_channel.name)[1])
    return found


def relabel(
    catalog: Catalog,
    handles: ChannelHandles,
    channel: str,
    subdir: str,
    filename: str,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> LabelChange:
    """Give `subdir/filename` the labels `add` and take away `remove`."""
    adding, removing = _checked(add), _checked(remove)
    if set(adding) & set(removing):
        raise InvalidIdentifier(
            f"labels {sorted(set(adding) & set(removing))} are both added and removed",
            hint="Name each label once.",
        )
    current = labels_of(catalog, channel, subdir, filename)
    if not current:
        raise NotFound(
            f"{subdir}/{filename} is in no label of channel {channel}",
            hint="List the channel's packages with GET /api/channels/<channel>/packages.",
        )
    new_labels = [label for label in adding if label not in current]
    gone = [label for label in removing if label in current]
    if not set(current) - set(gone) and not new_labels:
        raise Conflict(
            f"removing {gone} would leave {subdir}/{filename} without a label",
            hint="Add another label in the same call (e.g. broken), or remove the package.",
        )
    source = handles.handle(label_channel_name(channel, current[0]))
    for label in new_labels:
        target = handles.label_handle(channel, label)
        copy_package(catalog, source, target, subdir, filename, lock_timeout=lock_timeout)
    for label in gone:
        handle = handles.handle(label_channel_name(channel, label))
        remove_package(catalog, handle, subdir, filename, lock_timeout=lock_timeout)
    final = labels_of(catalog, channel, subdir, filename)
    return LabelChange(channel, subdir, filename, final, new_labels, gone)


def _checked(labels: Iterable[str]) -> list[str]:
    unique: list[str] = []
    for label in labels:
        if check_served_label(label) not in unique:
            unique.append(label)
    return unique
