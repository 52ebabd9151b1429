"""One attempt of a job, the same in every runner: mark it running, call its function, record
what happened (succeeded with the result, retrying after a transient failure while attempts
are left, else failed with the error)."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass

from stockyard.catalog import Catalog, JobRow
from stockyard.config import Settings
from stockyard.jobs.kinds import run_job_function
from stockyard.jobs.retry import RetryPolicy, describe, is_transient
from stockyard.types.encoding import encode_json
from stockyard.types.errors import StockyardError

log = logging.getLogger("stockyard.jobs")


def process_name() -> str:
    """`host:pid` of this process (the job's `worker`)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What an attempt left: the job (None: nothing was run, it is finished or gone) and, when
    it is to be retried, the seconds to wait first."""

    job: JobRow | None
    retry_in: float | None = None


def run_attempt(
    catalog: Catalog,
    settings: Settings,
    job_id: int,
    *,
    policy: RetryPolicy,
    worker: str | None = None,
) -> Attempt:
    job = catalog.start_job(job_id, worker or process_name())
    if job is None:
        return Attempt(None)  # finished already: a late or duplicate delivery
    if job.attempts > job.max_attempts:
        # Delivered again after the process running its last attempt died (kill -9, OOM).
        lost = f"gave up after {job.max_attempts} attempts: the process running the last one died"
        return Attempt(catalog.finish_attempt(job.id, "failed", error=job.error or lost))
    log.info("job %d (%s) attempt %d/%d", job.id, job.kind, job.attempts, job.max_attempts)
    try:
        result = run_job_function(settings, job.kind, job.arguments)
    except Exception as exc:  # every failure is recorded; is_transient says whether to retry
        return _failed(catalog, job, exc, policy)
    done = catalog.finish_attempt(job.id, "succeeded", result=encode_json(result).decode())
    log.info("job %d (%s) succeeded", job.id, job.kind)
    return Attempt(done)


def _failed(catalog: Catalog, job: JobRow, exc: Exception, policy: RetryPolicy) -> Attempt:
    error = describe(exc)
    if not isinstance(exc, StockyardError):
        log.warning("job %d (%s) raised", job.id, job.kind, exc_info=exc)
    if is_transient(exc) and job.attempts < job.max_attempts:
        delay = policy.delay(job.attempts)
        retry_at = int((time.time() + delay) * 1000)
        log.warning("job %d (%s) failed, retrying in %.1fs: %s", job.id, job.kind, delay, error)
        row = catalog.finish_attempt(job.id, "retrying", error=error, retry_at=retry_at)
        return Attempt(row, delay)
    log.warning("job %d (%s) failed: %s", job.id, job.kind, error)
    return Attempt(catalog.finish_attempt(job.id, "failed", error=error))
