"""Which failures are retried, and how long to wait before the next attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from stockyard.index.commit import PublishPending
from stockyard.jobs.errors import TransientJobError
from stockyard.types.errors import LockTimeout, StockyardError

#: Attempts of a job unless its submitter says otherwise.
DEFAULT_MAX_ATTEMPTS: Final = 4
#: The most attempts a submitter may ask for.
MAX_ATTEMPTS_LIMIT: Final = 20


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: `base_delay` seconds after the first failed attempt, doubled after
    each next one, at most `max_delay`."""

    base_delay: float = 10.0
    max_delay: float = 600.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_delay, self.base_delay * 2 ** max(attempt - 1, 0)))


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt may succeed: a busy channel lock, a publish that failed after
    the change was stored, I/O and network errors, a lost database connection. Every other
    StockyardError (an unknown channel, a bad argument, a refused patch source) and any other
    exception (a bug) fails the job at once: retrying would only repeat it."""
    if isinstance(exc, TransientJobError | LockTimeout | PublishPending):
        return True
    if isinstance(exc, StockyardError):
        return False
    if isinstance(exc, OSError | TimeoutError):
        return True
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    import httpx

    return isinstance(exc, httpx.TransportError)


def describe(exc: BaseException) -> str:
    """One line for the job's `error`: the error class, its message and hint."""
    if isinstance(exc, StockyardError):
        text = f"{type(exc).__name__}: {exc.message}"
        return f"{text} (hint: {exc.hint})" if exc.hint else text
    return f"{type(exc).__name__}: {exc}"
