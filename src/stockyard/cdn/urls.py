"""What a publish changed, as a CDN purges it: absolute URLs and surrogate keys.

URLs are the public ones (`<public_url>/<channel>/<key>`, a label under
`/<channel>/label/<label>/`), never the `/t/<token>/` form of a private channel: a token never
leaves the server, and a shared cache never holds a private channel's files anyway (they are
`Cache-Control: private`). An `index.html` is also reachable as its directory (`.../linux-64/`),
so both URLs are listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stockyard.cdn.keys import purge_keys
from stockyard.storage import check_key

INDEX_HTML = "index.html"


@dataclass(frozen=True, slots=True)
class PurgeList:
    """A publish's changes to one channel, ready for a CDN."""

    channel: str
    urls: list[str]
    surrogate_keys: list[str]
    #: The channel's publish counter after this publish (stockyard.cdn.ledger).
    revision: int

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body (docs/deploy-cdn.md)."""
        return {
            "channel": self.channel,
            "urls": self.urls,
            "surrogate_keys": self.surrogate_keys,
            "revision": self.revision,
        }


def channel_root_url(base_url: str, channel: str) -> str:
    return f"{base_url.rstrip('/')}/{channel}/"


def urls_for(base_url: str, channel: str, keys: Iterable[str]) -> list[str]:
    """Absolute URLs of the files `keys` of `channel` (keys are storage keys, checked: their
    characters are all valid in a URL path, so they are used as they are)."""
    root = channel_root_url(base_url, channel)
    urls: set[str] = set()
    for key in keys:
        check_key(key)
        urls.add(root + key)
        if key == INDEX_HTML or key.endswith("/" + INDEX_HTML):
            urls.add(root + key[: -len(INDEX_HTML)])
    return sorted(urls)


def purge_list(base_url: str, channel: str, keys: Iterable[str], revision: int) -> PurgeList:
    changed = sorted(set(keys))
    return PurgeList(
        channel=channel,
        urls=urls_for(base_url, channel, changed),
        surrogate_keys=purge_keys(channel, changed),
        revision=revision,
    )
