"""Background jobs in the JSON API (server-wide admin token): list and read jobs, queue one, queue
a failed one again. The runner (in-process, or Celery with `broker_url`) is the app's
(`app.state.stockyard_jobs`, made by `create_app`). Handlers are plain `def`s (worker threads):
queueing reads the catalog and, with a broker, talks to Redis.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from stockyard.catalog import JobRow
from stockyard.jobs import MAX_ATTEMPTS_LIMIT, JobRunner
from stockyard.jobs.documents import job_document
from stockyard.server.api import Caller, State
from stockyard.server.auth import require_server_scope
from stockyard.server.models import ErrorOut

router = APIRouter(prefix="/api", tags=["jobs"])

JobStateName = Literal["queued", "running", "retrying", "succeeded", "failed"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or invalid token."},
    403: {"model": ErrorOut, "description": "Not a server-wide admin token."},
    404: {"model": ErrorOut, "description": "No such job."},
}
_SUBMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    422: {
        "model": ErrorOut,
        "description": "Not a job this API takes: an unknown kind, or "
        "arguments the kind does not take (InvalidRequest, naming the field).",
    },
    404: {"model": ErrorOut, "description": "No such job, channel or scheduled mirror."},
    409: {"model": ErrorOut, "description": "The channel cannot have this job (a proxy)."},
    503: {"model": ErrorOut, "description": "broker_url is set but Redis does not answer."},
}
JobId = Annotated[int, Path(ge=1, le=2**62, description="The job's id.")]


class JobOut(BaseModel):
    id: int
    kind: str
    arguments: dict[str, Any] = Field(description="What the job was given (defaults filled in).")
    state: JobStateName
    attempts: int = Field(description="Attempts started so far.")
    max_attempts: int
    error: str | None = Field(None, description="Why the last attempt failed.")
    result: Any = Field(None, description="What a succeeded job returned (JSON).")
    created_at: int = Field(description="Milliseconds since the epoch.")
    started_at: int | None = Field(None, description="When the last attempt started (ms).")
    finished_at: int | None = Field(None, description="When it succeeded or failed (ms).")
    retry_at: int | None = Field(None, description="When a retrying job's next attempt is due.")
    worker: str | None = Field(None, description="host:pid of the process of the last attempt.")
    runner: str = Field(description="inprocess, or celery (a `stockyard worker`).")


class JobListOut(BaseModel):
    total: int
    limit: int
    offset: int
    jobs: list[JobOut]


class _Arguments(BaseModel):
    # Lax like every other request body here (171.0 is an integer in JSON Schema, and "7" is
    # taken as 7); what reaches the job kind's Struct is the coerced value.
    model_config = ConfigDict(extra="forbid")


class ChannelJobArguments(_Arguments):
    channel: str = Field(min_length=1, max_length=256, description="The channel's name.")


class ScanJobArguments(ChannelJobArguments):
    force: bool = Field(False, description="Scan every artifact again, not only new ones.")


class NoJobArguments(_Arguments):
    pass


class GcJobArguments(_Arguments):
    keep_jobs_days: int = Field(30, ge=1, le=3650, description="Finished jobs kept this long.")


class _JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int | None = Field(
        None, ge=1, le=MAX_ATTEMPTS_LIMIT, description="Attempts before it fails (default 4)."
    )
    join: bool = Field(
        True, description="Join a queued job of the same kind and arguments instead of adding one."
    )


class ReindexJobIn(_JobCreate):
    kind: Literal["reindex"]
    arguments: ChannelJobArguments


class MirrorSyncJobIn(_JobCreate):
    kind: Literal["mirror_sync"]
    arguments: ChannelJobArguments


class SnapshotsJobIn(_JobCreate):
    kind: Literal["snapshots"]
    arguments: NoJobArguments = NoJobArguments()


class ScanJobIn(_JobCreate):
    kind: Literal["scan"]
    arguments: ScanJobArguments


class GcJobIn(_JobCreate):
    kind: Literal["gc"]
    arguments: GcJobArguments = GcJobArguments.model_validate({})


#: A job to queue: its kind decides the arguments it takes, so the schema says exactly what is
#: accepted. The job kinds' own argument Structs (`stockyard.jobs.kinds`) check them again when
#: queued; a test keeps the two the same.
JobCreateIn = Annotated[
    ReindexJobIn | MirrorSyncJobIn | SnapshotsJobIn | ScanJobIn | GcJobIn,
    Field(discriminator="kind"),
]


class JobQueuedOut(JobOut):
    joined: bool = Field(description="A queued job doing the same work was joined.")


def _out(job: JobRow) -> JobOut:
    return JobOut(**job_document(job))


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.stockyard_jobs
    return runner


@router.get("/jobs", response_model=JobListOut, responses=_ERRORS, summary="List jobs")
def get_jobs(
    state: State,
    caller: Caller,
    job_state: Annotated[JobStateName | None, Query(alias="state")] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JobListOut:
    """Jobs newest first, optionally only those in one state or of one kind."""
    require_server_scope(caller, "admin", "listing jobs")
    total, rows = state.catalog.list_jobs(state=job_state, kind=kind, limit=limit, offset=offset)
    return JobListOut(total=total, limit=limit, offset=offset, jobs=[_out(row) for row in rows])


@router.get("/jobs/{job_id}", response_model=JobOut, responses=_ERRORS, summary="One job")
def get_job(job_id: JobId, state: State, caller: Caller) -> JobOut:
    """A job: state, attempts, times, the worker of its last attempt, its error or result."""
    require_server_scope(caller, "admin", "reading jobs")
    return _out(state.catalog.job(job_id))


@router.post(
    "/jobs",
    response_model=JobQueuedOut,
    status_code=202,
    responses=_SUBMIT_ERRORS,
    summary="Queue a job",
)
def post_job(
    body: JobCreateIn, request: Request, response: Response, caller: Caller
) -> JobQueuedOut:
    """Queue a job: `{"kind": "reindex", "arguments": {"channel": "main"}}`. The arguments are
    checked before anything is queued; a queued job doing the same work is joined (it runs
    once) unless `join` is false. Follow it with GET /api/jobs/{id}."""
    require_server_scope(caller, "admin", "queueing jobs")
    submitted = _runner(request).submit(
        body.kind, body.arguments.model_dump(), max_attempts=body.max_attempts, join=body.join
    )
    response.headers["location"] = f"/api/jobs/{submitted.job.id}"
    return JobQueuedOut(**job_document(submitted.job), joined=submitted.joined)


@router.post(
    "/jobs/{job_id}/retry",
    response_model=JobOut,
    status_code=202,
    responses={**_ERRORS, 503: _SUBMIT_ERRORS[503]},
    summary="Queue a job again",
)
def post_job_retry(job_id: JobId, request: Request, caller: Caller) -> JobOut:
    """Queue a failed job again from its first attempt; also a job stuck queued or running
    whose worker and message are gone (docs/jobs.md, "Stuck jobs")."""
    require_server_scope(caller, "admin", "queueing jobs")
    return _out(_runner(request).retry(job_id))
