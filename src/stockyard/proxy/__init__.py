"""Proxy channels: a served channel whose content is read through from upstream channels.

- `settings`: a channel's `ProxyPolicy` compiled (upstream URLs, timeouts, the mirror's filters);
- `upstreams`: the upstreams in order of health, and requests to them with failover (httpx);
- `cache`: the on-disk cache under `<channel>/.stockyard/proxy/` (files and their metadata);
- `documents`: checking, filtering and localizing what upstream serves (repodata, shard index,
  shards, channeldata);
- `artifacts`: downloading an artifact and verifying it (sha256 and size against the record,
  then `stockyard.package.verify.verify_artifact`, as uploads are);
- `singleflight`: one upstream transfer per key however many requests wait for it;
- `channel`: `ProxyChannel`, what the server asks for a file (`ProxyRegistry` holds one per
  channel in a server process).

Nothing here imports the server; `stockyard.server.proxy_files` is the HTTP glue.
"""

from stockyard.proxy.channel import ProxyChannel, ProxyFile, ProxyRegistry
from stockyard.proxy.errors import ProxyUnavailable

__all__ = ["ProxyChannel", "ProxyFile", "ProxyRegistry", "ProxyUnavailable"]
