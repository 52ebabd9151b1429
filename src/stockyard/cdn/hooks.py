"""Where a commit hands over what it changed: `after_publish`, called once per commit.

It records the change in the channel's ledger (stockyard.cdn.ledger: always, in every process,
for `stockyard cdn changed-urls`) and gives it to this process's purge senders: the webhook
that `stockyard serve` installs when `purge_webhook_url` is set (`install_purge_webhook`).
Nothing here may fail a publish that already happened: errors are logged.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final

from stockyard.cdn.ledger import Ledger, LedgerEntry, read_ledger, record_publish, unrecorded_entry
from stockyard.storage import Store
from stockyard.storage.parallel import is_remote, submit

if TYPE_CHECKING:
    from stockyard.config import Settings

log = logging.getLogger("stockyard.cdn")

#: Seconds a purge waits after its publish when replicas keep cached copies of bucket files
#: (server/remote_files.py trusts a copy for at most a second without publish notifications).
BUCKET_PURGE_DELAY: Final = 1.5

PurgeSink = Callable[[str, LedgerEntry], None]
_sinks: list[PurgeSink] = []
_sinks_guard = threading.Lock()


def add_purge_sink(sink: PurgeSink) -> Callable[[], None]:
    """Call `sink(channel, entry)` after every publish of this process that changed files;
    returns the function that removes it."""
    with _sinks_guard:
        _sinks.append(sink)

    def remove() -> None:
        with _sinks_guard, contextlib.suppress(ValueError):
            _sinks.remove(sink)

    return remove


def prefetch_ledger(store: Store) -> Future[Ledger] | None:
    """Start reading the channel's ledger in the background, on a bucket (where the read is a
    round trip that can overlap the publish); None on a local store. Call with the channel
    lock held: nobody else writes the ledger until it is released."""
    if not is_remote(store):
        return None
    return submit(functools.partial(read_ledger, store))


def after_publish(
    store: Store,
    channel: str,
    changed: Iterable[str],
    *,
    ledger: Future[Ledger] | None = None,
) -> LedgerEntry | None:
    """Record a commit's changed keys (files of `channel` in `store`) and hand them to the purge
    senders; None when nothing changed. Call with the channel lock held, after the publish.
    `ledger`: the ledger as `prefetch_ledger` read it under the same lock hold."""
    keys = sorted(set(changed))
    if not keys:
        return None
    try:
        entry = record_publish(store, keys, current=ledger.result() if ledger else None)
    except Exception as exc:  # the publish stands without its ledger entry; still purge
        log.warning("could not record the CDN changes of %s: %s", channel, exc)
        entry = unrecorded_entry(keys)
    with _sinks_guard:
        sinks = list(_sinks)
    for sink in sinks:
        try:
            sink(channel, entry)
        except Exception:
            log.exception("a CDN purge sender failed")
    return entry


def install_purge_webhook(settings: Settings, registry: Any = None) -> Callable[[], None]:
    """With `purge_webhook_url` set, send every publish of this process there (URLs under the
    settings' public URL); returns the function that stops it (a no-op without the setting).
    `registry`: the Prometheus registry of the server's metrics."""
    url = settings.purge_webhook_url
    if not url:
        return lambda: None
    from stockyard.cdn.webhook import PurgeWebhook

    bucket = (settings.storage_url or "").startswith("s3://")
    webhook = PurgeWebhook(
        url, settings.base_url, delay=BUCKET_PURGE_DELAY if bucket else 0.0, registry=registry
    )
    remove = add_purge_sink(webhook.submit_entry)

    def stop() -> None:
        remove()
        webhook.stop()

    return stop
