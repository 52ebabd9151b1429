"""CDN-friendly publishing: what each publish changed, as URLs and surrogate keys a CDN purges.

- `keys`: the surrogate keys of a served file (`Surrogate-Key` header) and of a publish;
- `urls`: a publish's changed storage keys as absolute public URLs (`PurgeList`);
- `ledger`: the channel's record of its recent publishes (`.stockyard/cdn/changes.json`), read by
  `stockyard cdn changed-urls`;
- `hooks`: `after_publish`, the one call a commit makes (stockyard.index.commit), and the
  process's purge senders (`install_purge_webhook`, by `stockyard serve`);
- `webhook`: the purge webhook, sent from a background thread with bounded retries.

The published `.gz` files a front serves precompressed are made by `stockyard.publish.gz`.
See docs/deploy-cdn.md.
"""
