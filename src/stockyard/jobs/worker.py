"""`stockyard worker`: a Celery worker for the deployment's jobs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from stockyard.config import Settings
from stockyard.jobs.errors import InvalidJob
from stockyard.jobs.kinds import QUEUES
from stockyard.jobs.retry import RetryPolicy
from stockyard.types.errors import ConfigError


def check_queues(queues: Sequence[str]) -> list[str]:
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        raise InvalidJob(
            f"unknown queue(s): {', '.join(unknown) or '(none given)'}",
            hint=f"Queues: {', '.join(QUEUES)}.",
        )
    return list(dict.fromkeys(queues))


def run_worker(
    settings: Settings,
    *,
    concurrency: int = 2,
    queues: Sequence[str] = QUEUES,
    loglevel: str = "info",
    visibility_timeout: float | None = None,
    retry_delay: float | None = None,
) -> None:
    """Check the broker, Celery and the catalog, then run a worker until it is stopped (SIGTERM:
    finish the running jobs first; SIGQUIT or kill -9: their messages are delivered again)."""
    from stockyard.jobs.celery_app import (
        DEFAULT_VISIBILITY_TIMEOUT,
        celery_app,
        check_broker,
        require_celery,
    )
    from stockyard.server.channels import open_catalog

    if settings.broker_url is None:
        raise ConfigError(
            "stockyard worker needs a job broker, and broker_url is not set",
            hint='Set broker_url = "redis://HOST:6379/0" in the settings file (or '
            "STOCKYARD_BROKER_URL); without a broker, stockyard serve runs jobs itself.",
        )
    wanted = check_queues(queues)
    require_celery()
    check_broker(settings.broker_url)
    open_catalog(settings).close()  # the catalog is reachable and at this schema
    policy = RetryPolicy() if retry_delay is None else RetryPolicy(base_delay=retry_delay)
    app = celery_app(
        settings, policy, visibility_timeout=visibility_timeout or DEFAULT_VISIBILITY_TIMEOUT
    )
    _purge_from_each_pool_process(settings)
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={','.join(wanted)}",
            f"--loglevel={loglevel.upper()}",
            f"--hostname=stockyard-{os.getpid()}@%h",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def _purge_from_each_pool_process(settings: Settings) -> None:
    """Jobs publish too (re-index, mirror syncs): with `purge_webhook_url` set, each pool
    process sends its publishes' purges, as `stockyard serve` does. Installed after the fork
    (a sender's thread does not survive it) and flushed when the process ends."""
    if not settings.purge_webhook_url:
        return
    from celery.signals import worker_process_init, worker_process_shutdown

    from stockyard.cdn.hooks import install_purge_webhook

    stops: list[Callable[[], None]] = []

    def start(**_: object) -> None:
        stops.append(install_purge_webhook(settings))

    def stop(**_: object) -> None:
        while stops:
            stops.pop()()

    worker_process_init.connect(start, weak=False)
    worker_process_shutdown.connect(stop, weak=False)
