"""Background jobs: long work (re-index, scheduled mirror syncs and snapshots, scans, garbage
collection) queued in the catalog and run by a runner: in-process threads by default, Celery
workers with Redis when `broker_url` is set. See docs/jobs.md.

`kinds` (the job kinds and their arguments), `functions` and `garbage` (the job functions),
`execute` (one attempt, the same in every runner), `retry` (what is retried, and when),
`runner` (the runners; `open_runner`), `celery_app` (the Celery side), `worker`
(`stockyard worker`).
"""

from stockyard.jobs.errors import (
    BrokerUnavailable,
    InvalidJob,
    JobError,
    JobsNotInstalled,
    TransientJobError,
)
from stockyard.jobs.kinds import KINDS, QUEUES, JobKind
from stockyard.jobs.retry import DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT, RetryPolicy
from stockyard.jobs.runner import InProcessRunner, JobRunner, Submission, open_runner

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "KINDS",
    "MAX_ATTEMPTS_LIMIT",
    "QUEUES",
    "BrokerUnavailable",
    "InProcessRunner",
    "InvalidJob",
    "JobError",
    "JobKind",
    "JobRunner",
    "JobsNotInstalled",
    "RetryPolicy",
    "Submission",
    "TransientJobError",
    "open_runner",
]
