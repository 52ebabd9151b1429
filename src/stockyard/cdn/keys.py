"""Surrogate keys: the names a CDN groups cached channel files by, to purge them together.

Every file the channel protocol serves says its keys in a `Surrogate-Key` header (Fastly's name;
other CDNs call them cache tags). They separate what a publish rewrites from what it never does:

- `<channel>`: every *document* of the channel (repodata and its variants, the shard index,
  run_exports, patch instructions, channeldata, index pages), which publishes rewrite;
- `<channel>/<subdir>`: the documents of one subdir (rewritten when the subdir changed);
- `<channel>/root`: the documents at the channel root (channeldata, index.html);
- `<channel>/files`: artifacts with their signature sidecars, shards, icons and snapshots,
  which no publish rewrites (an artifact replaced by a forced upload is purged by its URL).

A label is a channel of its own (`<channel>/label/<label>`), so its keys start with that name.
`root` and `files` can never be subdir names (a subdir is `noarch` or `<os>-<arch>`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

from stockyard.types.identifiers import SUBDIR_PATTERN
from stockyard.types.labels import LABEL_SEGMENT, is_label_channel

#: The key of a channel's documents at its root.
ROOT_KEY: Final = "root"
#: The key of a channel's files that no publish rewrites.
FILES_KEY: Final = "files"
#: The path of a channel's as-of views (server/as_of_files.py).
AS_OF: Final = "as-of"

_subdir_re = re.compile(SUBDIR_PATTERN)
_shard_re = re.compile(r"^[0-9a-f]{64}\.msgpack\.zst$")
_ARTIFACT_MARKERS: Final = (".conda", ".tar.bz2")


def served_channel(channel: str, key: str) -> tuple[str, str]:
    """(channel, key) of a file requested as `/<channel>/<key>`: a label's files are requested
    under their channel's path (`/c/label/l/...`) but belong to the label's channel."""
    if is_label_channel(channel):
        return channel, key
    first, _, rest = key.partition("/")
    label, _, inner = rest.partition("/")
    if first == LABEL_SEGMENT and label and inner:
        return f"{channel}/{LABEL_SEGMENT}/{label}", inner
    return channel, key


def is_document(key: str) -> bool:
    """Whether a publish may rewrite `key`: anything but artifacts (and their signature
    sidecars), content-addressed shards and icons, and snapshots."""
    segments = key.split("/")
    name = segments[-1]
    if any(marker in name for marker in _ARTIFACT_MARKERS):
        return False
    if len(segments) >= 2 and segments[-2] == "shards" and _shard_re.fullmatch(name):
        return False
    return segments[0] not in {"icons", "snapshots"}


def subdir_of(key: str) -> str | None:
    """The subdir `key` is in; None at the root and in `as-of/` views (a valid subdir name that
    the channel routes serve as views of the past)."""
    first, slash, _ = key.partition("/")
    return first if slash and first != AS_OF and _subdir_re.fullmatch(first) else None


def keys_of_file(channel: str, key: str) -> list[str]:
    """The surrogate keys of the file `key` of `channel` (label paths already resolved)."""
    if not is_document(key):
        return [f"{channel}/{FILES_KEY}"]
    subdir = subdir_of(key)
    if subdir is not None:
        return [channel, f"{channel}/{subdir}"]
    if "/" not in key:
        return [channel, f"{channel}/{ROOT_KEY}"]
    return [channel]  # documents of as-of views


@lru_cache(maxsize=4096)  # every file response names it; a few thousand hot files
def surrogate_key_header(channel: str, key: str) -> str:
    """The `Surrogate-Key` value of a file requested as `/<channel>/<key>`."""
    return " ".join(keys_of_file(*served_channel(channel, key)))


def purge_keys(channel: str, changed: Iterable[str]) -> list[str]:
    """The narrowest keys that cover the documents among `changed` (a publish's changed keys of
    `channel`): `<channel>/<subdir>` and `<channel>/root`, never `<channel>` or
    `<channel>/files` (purging those would drop every artifact or every subdir)."""
    out: set[str] = set()
    for key in changed:
        if not is_document(key):
            continue
        subdir = subdir_of(key)
        if subdir is not None:
            out.add(f"{channel}/{subdir}")
        elif "/" not in key:
            out.add(f"{channel}/{ROOT_KEY}")
    return sorted(out)
