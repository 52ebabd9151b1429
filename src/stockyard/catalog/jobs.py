"""Background jobs (`JobsPart`): the state every replica and worker sees of each job.

Rows only: what a job does and who delivers it is `stockyard.jobs`. A job is queued, then each
attempt moves it to running and from there to succeeded, failed or retrying (a later attempt
moves it to running again). Every transition is one statement, so two processes handed the same
job (a message delivered twice) never leave a row half-updated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sqlalchemy import delete, func, select, update

from stockyard.catalog.base import CatalogPart, insert_ignore, now_ms
from stockyard.catalog.schema import jobs
from stockyard.types.errors import NotFound

JobState = Literal["queued", "running", "succeeded", "failed", "retrying"]
JOB_STATES: Final[tuple[JobState, ...]] = get_args(JobState)
#: States a job never leaves by itself.
FINAL_STATES: Final[tuple[JobState, ...]] = ("succeeded", "failed")
#: States in which an attempt may start (running: a delivery whose worker was lost).
STARTABLE: Final[tuple[JobState, ...]] = ("queued", "retrying", "running")
#: Longest error message kept (the rest is cut).
MAX_ERROR: Final = 4000


@dataclass(frozen=True, slots=True)
class JobRow:
    id: int
    kind: str
    #: Encoded JSON (compact, sorted keys).
    arguments: str
    state: JobState
    attempts: int
    max_attempts: int
    error: str | None
    #: Encoded JSON: what the job returned (succeeded jobs).
    result: str | None
    created_at: int
    started_at: int | None
    finished_at: int | None
    retry_at: int | None
    worker: str | None
    runner: str

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class NewJob:
    kind: str
    arguments: str
    max_attempts: int
    runner: str
    #: Identifies the work (kind and arguments): a queued job with the same key is joined
    #: instead of adding another. None: always a new job.
    pending_key: str | None = None
    #: In-process jobs: the process that owns the job until it runs.
    worker: str | None = None


_COLUMNS = [jobs.c[name] for name in JobRow.__dataclass_fields__]
_UNFINISHED: Final = ("queued", "running", "retrying")


def _row(row: Any) -> JobRow:
    return JobRow(*row)


class JobsPart(CatalogPart):
    def add_job(self, new: NewJob) -> tuple[JobRow, bool]:
        """Queue a job; (the job, True) or, when a queued job has the same `pending_key`,
        (that job, False)."""
        for _ in range(5):  # the queued twin may start between our insert and our look-up
            with self.engine.begin() as conn:
                statement = insert_ignore(self.engine.dialect.name, jobs).values(
                    kind=new.kind,
                    arguments=new.arguments,
                    state="queued",
                    attempts=0,
                    max_attempts=new.max_attempts,
                    created_at=now_ms(),
                    worker=new.worker,
                    runner=new.runner,
                    pending_key=new.pending_key,
                )
                inserted = conn.execute(statement.returning(jobs.c.id)).scalar()
                if inserted is None:
                    twin = conn.execute(
                        select(*_COLUMNS).where(jobs.c.pending_key == new.pending_key)
                    ).first()
                    if twin is not None:
                        return _row(twin), False
                    continue
            return self.job(int(inserted)), True
        raise RuntimeError("could not queue the job: its twin kept changing")  # pragma: no cover

    def find_job(self, job_id: int) -> JobRow | None:
        with self.reader.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(jobs.c.id == job_id)).first()
        return None if row is None else _row(row)

    def job(self, job_id: int) -> JobRow:
        found = self.find_job(job_id)
        if found is None:
            raise NotFound(
                f"job {job_id} does not exist",
                hint="List the jobs with `stockyard job list` or GET /api/jobs.",
            )
        return found

    def list_jobs(
        self,
        *,
        state: JobState | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[JobRow]]:
        """(how many match, one page of them, newest first)."""
        where = []
        if state is not None:
            where.append(jobs.c.state == state)
        if kind is not None:
            where.append(jobs.c.kind == kind)
        page = select(*_COLUMNS).where(*where).order_by(jobs.c.id.desc()).limit(limit)
        with self.reader.connect() as conn:
            total = conn.execute(select(func.count()).select_from(jobs).where(*where)).scalar()
            rows = conn.execute(page.offset(offset)).all()
        return int(total or 0), [_row(row) for row in rows]

    def job_counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state listed)."""
        with self.reader.connect() as conn:
            rows = conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
        return {state: 0 for state in JOB_STATES} | {str(s): int(n) for s, n in rows}

    def start_job(self, job_id: int, worker: str) -> JobRow | None:
        """Begin an attempt: running, one more attempt, by `worker`. None when the job is
        finished or gone (a late duplicate delivery: nothing to do)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state.in_(STARTABLE))
                .values(
                    state="running",
                    attempts=jobs.c.attempts + 1,
                    started_at=now_ms(),
                    worker=worker,
                    pending_key=None,
                    retry_at=None,
                )
            ).rowcount
        return self.find_job(job_id) if changed else None

    def finish_attempt(
        self,
        job_id: int,
        state: JobState,
        *,
        error: str | None = None,
        result: str | None = None,
        retry_at: int | None = None,
    ) -> JobRow:
        """End an attempt: succeeded (with its result), failed, or retrying at `retry_at`."""
        final = state in FINAL_STATES
        values: dict[str, Any] = {
            "state": state,
            "error": error[:MAX_ERROR] if error is not None else None,
            "result": result,
            "retry_at": retry_at,
            "finished_at": now_ms() if final else None,
            "pending_key": None,
        }
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
        return self.job(job_id)

    def requeue_job(self, job_id: int, *, runner: str, worker: str | None = None) -> JobRow:
        """Queue a job again from its first attempt (an operator's retry of a failed or stuck
        job), delivered by `runner`; `worker`: the in-process owner."""
        self.job(job_id)
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    state="queued",
                    attempts=0,
                    error=None,
                    result=None,
                    started_at=None,
                    finished_at=None,
                    retry_at=None,
                    worker=worker,
                    runner=runner,
                )
            )
        return self.job(job_id)

    def unfinished_jobs(self, runner: str) -> list[JobRow]:
        """Jobs of `runner` not finished yet, oldest first."""
        query = (
            select(*_COLUMNS)
            .where(jobs.c.runner == runner, jobs.c.state.in_(_UNFINISHED))
            .order_by(jobs.c.id)
        )
        with self.reader.connect() as conn:
            return [_row(row) for row in conn.execute(query)]

    def claim_job(self, job_id: int, owner: str | None, new_owner: str) -> bool:
        """Take over an unfinished job still owned by `owner` (whose process is gone); False
        when another process took it first."""
        owned = jobs.c.worker.is_(None) if owner is None else jobs.c.worker == owner
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, owned, jobs.c.state.in_(_UNFINISHED))
                .values(worker=new_owner)
            ).rowcount
        return bool(changed)

    def delete_finished_jobs(self, before: int) -> int:
        """Delete succeeded and failed jobs that finished before `before` (ms); how many."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    delete(jobs).where(jobs.c.state.in_(FINAL_STATES), jobs.c.finished_at < before)
                ).rowcount
            )
