"""Runners: how a queued job gets to the process that runs it. Two behind one interface:

- `InProcessRunner`, the embedded default (no `broker_url`): a small thread pool in the process
  that queued the job (`stockyard serve`, or `stockyard job run`, which waits for it);
- `CeleryRunner` (`broker_url = redis://...`): a Celery message per attempt, run by any
  `stockyard worker` (see `celery_app`).

Both queue the job in the catalog first and run it with `execute.run_attempt`, so its state is
the same wherever it runs. Submitting work that a queued job of the same kind and arguments
will already do joins that job (it runs once); if the twin is running already, a new job is
queued (it runs again after, and finds the change the first may have missed).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from stockyard.catalog import Catalog, JobRow, NewJob
from stockyard.config import Settings
from stockyard.jobs.errors import InvalidJob
from stockyard.jobs.execute import process_name, run_attempt
from stockyard.jobs.kinds import canonical_arguments, job_kind, parse_arguments, work_key
from stockyard.jobs.retry import DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT, RetryPolicy

log = logging.getLogger("stockyard.jobs")

INPROCESS: Final = "inprocess"
CELERY: Final = "celery"
#: Threads of the in-process runner: jobs are I/O-bound and serialized per channel anyway.
INPROCESS_THREADS: Final = 2


@dataclass(frozen=True, slots=True)
class Submission:
    job: JobRow
    #: True when a queued job with the same kind and arguments was joined instead.
    joined: bool = False


class JobRunner:
    """What every runner does; subclasses say how a queued job is delivered (`dispatch`)."""

    name: ClassVar[str]

    def __init__(self, settings: Settings, catalog: Catalog, policy: RetryPolicy) -> None:
        self.settings = settings
        self.catalog = catalog
        self.policy = policy

    def submit(
        self,
        kind: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        max_attempts: int | None = None,
        join: bool = True,
    ) -> Submission:
        """Check and queue a job (InvalidJob, NotFound or Conflict before anything is queued);
        `join`: join a queued job that does the same work instead of adding one."""
        spec = job_kind(kind)
        parsed = parse_arguments(spec, arguments)
        if spec.check is not None:
            spec.check(self.settings, self.catalog, parsed)
        attempts = DEFAULT_MAX_ATTEMPTS if max_attempts is None else max_attempts
        if not 1 <= attempts <= MAX_ATTEMPTS_LIMIT:
            raise InvalidJob(f"max_attempts must be 1 to {MAX_ATTEMPTS_LIMIT}, not {attempts}")
        text = canonical_arguments(parsed)
        new = NewJob(
            kind=kind,
            arguments=text,
            max_attempts=attempts,
            runner=self.name,
            pending_key=work_key(kind, text) if join else None,
            worker=self.owner,
        )
        job, created = self.catalog.add_job(new)
        if created:
            self.dispatch(job)
        return Submission(job, joined=not created)

    def retry(self, job_id: int) -> JobRow:
        """Queue a failed (or stuck) job again from its first attempt."""
        job = self.catalog.requeue_job(job_id, runner=self.name, worker=self.owner)
        self.dispatch(job)
        return job

    def wait(self, job_id: int, timeout: float | None = None, poll: float = 0.2) -> JobRow:
        """The job once finished, or as it is when `timeout` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.catalog.job(job_id)
            if job.finished or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(poll)

    @property
    def owner(self) -> str | None:
        """The process that owns the jobs it queues until they run (in-process only)."""
        return None

    def dispatch(self, job: JobRow) -> None:
        """Hand a queued job to whatever runs it."""
        raise NotImplementedError

    def recover(self) -> list[int]:
        """Run again the jobs a dead process left unfinished (where the runner must)."""
        return []

    def close(self) -> None:
        """Stop taking jobs (an in-process job already running finishes)."""
        return None


class InProcessRunner(JobRunner):
    """Jobs run on a thread pool of this process; a retry waits on a timer. A job queued here
    is owned by this process: if it dies first, `recover` (at the next `stockyard serve`
    start) runs the job again."""

    name = INPROCESS

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        policy: RetryPolicy | None = None,
        *,
        threads: int = INPROCESS_THREADS,
    ) -> None:
        super().__init__(settings, catalog, policy or RetryPolicy())
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="stockyard-job")
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._owner = process_name()

    @property
    def owner(self) -> str:
        return self._owner

    def dispatch(self, job: JobRow) -> None:
        with self._lock:
            if not self._closed:
                self._pool.submit(self._attempt, job.id)

    def _attempt(self, job_id: int) -> None:
        try:
            attempt = run_attempt(
                self.catalog, self.settings, job_id, policy=self.policy, worker=self._owner
            )
        except Exception:  # the catalog itself failed: the job stays as it was
            log.exception("job %d could not be run", job_id)
            return
        if attempt.job is not None and attempt.retry_in is not None:
            self._later(attempt.retry_in, attempt.job)

    def _later(self, delay: float, job: JobRow) -> None:
        with self._lock:
            if self._closed:
                return
            timer = threading.Timer(delay, self._fire, args=(job,))
            timer.daemon = True
            self._timers.add(timer)
            timer.start()

    def _fire(self, job: JobRow) -> None:
        with self._lock:
            self._timers.discard(threading.current_thread())
        self.dispatch(job)

    def recover(self) -> list[int]:
        taken = []
        for job in self.catalog.unfinished_jobs(INPROCESS):
            if _owner_alive(job.worker):
                continue
            if self.catalog.claim_job(job.id, job.worker, self._owner):
                log.info("job %d (%s) was left by a stopped process: running it", job.id, job.kind)
                self.dispatch(job)
                taken.append(job.id)
        return taken

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _owner_alive(worker: str | None) -> bool:
    """Whether the process `host:pid` may still be running (another host's: assume so)."""
    if not worker:
        return False
    host, _, pid_text = worker.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_runner(
    settings: Settings, catalog: Catalog, policy: RetryPolicy | None = None
) -> JobRunner:
    """The deployment's runner: Celery when `broker_url` is set (JobsNotInstalled without
    Celery), else in-process."""
    if settings.broker_url is None:
        return InProcessRunner(settings, catalog, policy)
    from stockyard.jobs.celery_app import CeleryRunner

    return CeleryRunner(settings, catalog, policy)
