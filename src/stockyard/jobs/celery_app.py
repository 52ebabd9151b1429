"""Jobs on Celery with Redis as the broker (`broker_url`).

One task, `stockyard.run_job(job_id)`: the message carries only the job's id; its kind,
arguments and state are in the catalog, which every replica and worker share. Delivery is
at-least-once:

- `acks_late`: a message is acknowledged after its attempt ends, not when it is received, so a
  worker that dies mid-job leaves it unacknowledged;
- `reject_on_worker_lost`: when the pool process running a job is killed (`kill -9`, OOM), the
  worker puts the message back on its queue at once and another process runs the job again;
- when the whole worker dies, Redis keeps the message as unacknowledged and hands it to another
  worker after the visibility timeout (`stockyard worker --visibility-timeout`, default an hour).

Running a job twice is harmless (the job functions are idempotent); each delivery counts as an
attempt, so a job that keeps killing its worker ends failed after its `max_attempts`. A transient
failure is retried with `Task.retry` after the policy's backoff.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from stockyard.catalog import Catalog, JobRow
from stockyard.config import Settings
from stockyard.jobs.errors import BrokerUnavailable, JobsNotInstalled
from stockyard.jobs.execute import run_attempt
from stockyard.jobs.kinds import job_kind
from stockyard.jobs.retry import RetryPolicy
from stockyard.jobs.runner import CELERY, JobRunner

if TYPE_CHECKING:
    from celery import Celery

TASK_NAME: Final = "stockyard.run_job"
#: Seconds a received but unacknowledged message waits before Redis hands it to another worker.
DEFAULT_VISIBILITY_TIMEOUT: Final = 3600.0
#: Seconds to connect to or hear from Redis before a submit fails with BrokerUnavailable.
BROKER_TIMEOUT: Final = 5.0
#: Times a message is delivered again while the catalog cannot be reached (database down).
CATALOG_RETRIES: Final = 20

log = logging.getLogger("stockyard.jobs")


def require_celery() -> ModuleType:
    try:
        import celery
    except ImportError:
        raise JobsNotInstalled(
            "broker_url is set, but Celery is not installed (jobs run on Celery with a broker)"
        ) from None
    module: ModuleType = celery
    return module


def redact_url(url: str) -> str:
    """`url` without its password (redis://:secret@host -> redis://:**@host)."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


def check_broker(url: str, timeout: float = BROKER_TIMEOUT) -> None:
    """BrokerUnavailable unless Redis at `url` answers a PING."""
    require_celery()
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BrokerUnavailable(
            f"cannot reach the job broker at {redact_url(url)}: {exc}"
        ) from None
    finally:
        client.close()


def celery_app(
    settings: Settings,
    policy: RetryPolicy | None = None,
    *,
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
) -> Celery:
    """The deployment's Celery app, with the job task registered."""
    celery = require_celery()
    app = celery.Celery("stockyard", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message per pool process at a time: a long job never holds others back.
        worker_prefetch_multiplier=1,
        task_default_queue="stockyard",
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results and state live in the catalog
        broker_connection_timeout=BROKER_TIMEOUT,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            # Look for abandoned messages often enough for the visibility timeout.
            "unacked_restore_interval": max(1.0, min(10.0, visibility_timeout / 4)),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": BROKER_TIMEOUT,
            "socket_timeout": 30.0,
        },
        # A job keeps running while the broker connection is down; its message is delivered
        # again (acks_late) and the second run finds the work done.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    _register_task(app, settings, policy or RetryPolicy())
    return app


def _register_task(app: Celery, settings: Settings, policy: RetryPolicy) -> None:
    catalogs: dict[int, Catalog] = {}

    def catalog() -> Catalog:
        # One engine per pool process, made after the fork (a forked connection is shared).
        pid = os.getpid()
        if pid not in catalogs:
            from stockyard.server.channels import open_catalog

            catalogs[pid] = open_catalog(settings)
        return catalogs[pid]

    def run_job(task: Any, job_id: int) -> None:
        worker = f"{task.request.hostname or 'celery'}:{os.getpid()}"
        try:
            attempt = run_attempt(catalog(), settings, int(job_id), policy=policy, worker=worker)
        except Exception as exc:  # the catalog itself failed: deliver the message again later
            log.warning("job %s: the catalog failed (%s); trying again later", job_id, exc)
            delay = policy.delay(int(task.request.retries or 0) + 1)
            raise task.retry(countdown=delay, max_retries=CATALOG_RETRIES, exc=exc) from None
        if attempt.job is not None and attempt.retry_in is not None:
            raise task.retry(countdown=attempt.retry_in, max_retries=None)

    app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)(run_job)


def send_job(app: Celery, job: JobRow) -> None:
    """Publish the message of one attempt of `job` (BrokerUnavailable when Redis is down)."""
    from kombu.exceptions import OperationalError

    try:
        app.send_task(
            TASK_NAME,
            args=[job.id],
            queue=job_kind(job.kind).queue,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5},
        )
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailable(
            f"cannot queue job {job.id}: the job broker at {redact_url(str(app.conf.broker_url))} "
            f"does not answer ({exc})"
        ) from None


class CeleryRunner(JobRunner):
    """Jobs go to Redis; `stockyard worker` processes run them."""

    name = CELERY

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        policy: RetryPolicy | None = None,
        app: Celery | None = None,
    ) -> None:
        super().__init__(settings, catalog, policy or RetryPolicy())
        self.app = app or celery_app(settings, self.policy)

    def dispatch(self, job: JobRow) -> None:
        try:
            send_job(self.app, job)
        except BrokerUnavailable as exc:
            # Never leave a job queued that no message will deliver.
            self.catalog.finish_attempt(job.id, "failed", error=f"BrokerUnavailable: {exc}")
            raise

    def close(self) -> None:
        self.app.close()
