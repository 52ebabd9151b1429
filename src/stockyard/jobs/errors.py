"""The errors of background jobs: each says what is wrong and what to do."""

from __future__ import annotations

from stockyard.types.errors import ConfigError, StockyardError


class JobError(StockyardError):
    """A job failed; the message says why."""

    default_hint = "See the job's error with `stockyard job show ID`; docs/jobs.md has a runbook."


class InvalidJob(JobError):
    """An unknown job kind, or arguments the kind does not take."""

    default_hint = "See docs/jobs.md for the job kinds and their arguments."


class TransientJobError(JobError):
    """A failure worth another attempt (an upstream or a lock that may come back)."""

    http_status = 503


class BrokerUnavailable(JobError):
    """`broker_url` is set but the broker (Redis) does not answer."""

    default_hint = (
        "Start Redis (or fix broker_url / STOCKYARD_BROKER_URL); see docs/jobs.md, 'Redis is down'."
    )
    http_status = 503


class JobsNotInstalled(ConfigError):
    """`broker_url` is set but Celery is not installed."""

    default_hint = "Install the jobs extra: pip install 'stockyard[jobs]'."
