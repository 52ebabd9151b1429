"""Operating a proxy channel after its creation: changing its upstreams and settings, pruning
its cache, and what its cache holds. Used by `stockyard channel set-proxy`, `stockyard channel
proxy-prune` and the API (`/api/channels/{c}/proxy`, `server/mirror_api.py`).

The policy lives in the catalog (the channel's `ChannelPolicy.proxy`). A changed policy is
checked as at creation (http(s) URLs, no upstream twice, filters that parse) before it is
stored; a running server follows within its channel cache's TTL and then starts the channel's
`ProxyChannel` afresh. The cache stays valid: artifacts are kept by their verified sha256 and
shards by their hash, whatever upstream they came from; documents cached from an upstream the
channel no longer has are revalidated on their next request (`stockyard.proxy.channel`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec

from stockyard.catalog import Catalog, Channel
from stockyard.proxy.cache import ProxyCache
from stockyard.proxy.prune import PruneLimits, PruneReport, cache_usage, prune_cache
from stockyard.proxy.settings import check_proxy_policy
from stockyard.types.errors import ConfigError, Conflict
from stockyard.types.policy import ProxyPolicy


@dataclass(frozen=True, slots=True)
class ProxyChanges:
    """What to change (None: keep). `upstreams` replaces the whole list, in failover order."""

    upstreams: tuple[str, ...] | None = None
    ttl: int | None = None
    timeout: float | None = None
    max_cache_bytes: int | None = None
    max_cache_age: int | None = None

    def given(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def proxy_of(catalog: Catalog, name: str) -> tuple[Channel, ProxyPolicy]:
    """The channel `name` and its proxy policy; Conflict when it is no proxy channel."""
    channel = catalog.require_channel(name)
    policy = catalog.channel_policy(channel.id).proxy
    if policy is None:
        raise Conflict(
            f"channel {name!r} is not a proxy channel",
            hint="Proxy settings apply to channels created with --proxy URL "
            "(stockyard channel create NAME --proxy URL).",
        )
    return channel, policy


def change_proxy(catalog: Catalog, name: str, changes: ProxyChanges) -> ProxyPolicy:
    """Store `changes` to the proxy channel `name`'s policy, checked; the new policy."""
    channel, current = proxy_of(catalog, name)
    given = changes.given()
    if not given:
        raise ConfigError(
            "nothing to change",
            hint="Give --proxy URL (repeatable: the new list), --proxy-ttl, --proxy-timeout, "
            "--max-cache-bytes or --max-cache-age.",
        )
    try:
        changed = msgspec.convert(msgspec.to_builtins(current) | given, ProxyPolicy)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"invalid proxy settings: {exc}",
            hint="At least one upstream (at most 16); ttl, max_cache_bytes and max_cache_age "
            "0 or more; timeout above 0.",
        ) from None
    checked = check_proxy_policy(changed)
    policy = catalog.channel_policy(channel.id)
    catalog.set_channel_policy(channel.id, msgspec.structs.replace(policy, proxy=checked))
    return checked


def prune_proxy(
    state_dir: Path,
    policy: ProxyPolicy,
    *,
    max_bytes: int | None = None,
    max_age: float | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Blocking: prune the cache of the proxy channel whose working area is `state_dir` by its
    policy's bounds (or the ones given here)."""
    limits = PruneLimits.of(policy)
    limits = PruneLimits(
        limits.max_bytes if max_bytes is None else max_bytes,
        limits.max_age if max_age is None else max_age,
    )
    return prune_cache(ProxyCache(state_dir), limits, dry_run=dry_run)


def proxy_settings_dict(name: str, policy: ProxyPolicy, state_dir: Path) -> dict[str, Any]:
    """The channel's proxy settings (tokens in URLs masked) and what its cache holds."""
    from stockyard.mirror.fetch import redact

    return {
        "channel": name,
        "upstreams": [redact(url) for url in policy.upstreams],
        "ttl": policy.ttl,
        "timeout": policy.timeout,
        "max_cache_bytes": policy.max_cache_bytes,
        "max_cache_age": policy.max_cache_age,
        "filtered": policy.filtered,
        "cache": cache_usage(ProxyCache(state_dir)),
    }
