"""Background jobs in the web UI, for server-wide admins (like the token pages):

```
/ui/-/jobs?state=&kind=&page=     jobs newest first, by state and kind, with counts
/ui/-/jobs/{id}                   one job: arguments, attempts, times, worker, error, result
/t/{token}/ui/-/jobs...           the same, with a token in the URL
```

Read-only: jobs are queued with `stockyard job run` or `POST /api/jobs` (a form here would need
the revoke form's CSRF care for no gain). Anyone else gets a 403 page that says what is needed;
an unknown job is a 404 page. Registered before the channel pages (`-` never starts a channel
name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from stockyard.catalog import JOB_STATES, JobRow
from stockyard.jobs import KINDS
from stockyard.jobs.documents import decoded
from stockyard.server.state import get_state
from stockyard.server.ui.common import (
    OWN_PAGES,
    Visitor,
    page_number,
    pagination,
    renderer_of,
    visitor_of,
)

#: Jobs per page.
PAGE_SIZE: Final = 50


def jobs_url(visitor: Visitor, **query: Any) -> str:
    params = {key: value for key, value in query.items() if value not in (None, "", 1)}
    path = f"{visitor.links.base}/ui/{OWN_PAGES}/jobs"
    return f"{path}?{urlencode(params)}" if params else path


def job_url(visitor: Visitor, job_id: int) -> str:
    return f"{visitor.links.base}/ui/{OWN_PAGES}/jobs/{job_id}"


@dataclass(frozen=True, slots=True)
class JobView:
    job: JobRow
    url: str
    arguments: str
    #: Pretty JSON of the result (empty when none).
    result: str


def _view(visitor: Visitor, job: JobRow) -> JobView:
    arguments = decoded(job.arguments) or {}
    short = (
        ", ".join(f"{key}={value}" for key, value in arguments.items())
        if isinstance(arguments, dict)
        else str(arguments)
    )
    result = decoded(job.result)
    pretty = "" if result is None else json.dumps(result, indent=2, sort_keys=True)
    return JobView(job, job_url(visitor, job.id), short, pretty)


def jobs_page(request: Request) -> Response:
    state, renderer = get_state(request), renderer_of(request)
    visitor = visitor_of(request, state, renderer)
    if not visitor.is_admin:
        return renderer.page(visitor, "jobs.html", status=403, jobs=[], counts={}, filters={})
    wanted_state = request.query_params.get("state", "")
    wanted_kind = request.query_params.get("kind", "")
    job_state = wanted_state if wanted_state in JOB_STATES else None
    kind = wanted_kind if wanted_kind in KINDS else None
    page = page_number(request)
    total, rows = state.catalog.list_jobs(
        state=job_state,  # checked against JOB_STATES
        kind=kind,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    return renderer.page(
        visitor,
        "jobs.html",
        jobs=[_view(visitor, row) for row in rows],
        counts=state.catalog.job_counts(),
        filters={"state": job_state, "kind": kind},
        states=JOB_STATES,
        kinds=sorted(KINDS),
        url=lambda **query: jobs_url(visitor, **{"state": job_state, "kind": kind, **query}),
        pagination=pagination(
            page,
            total,
            PAGE_SIZE,
            lambda n: jobs_url(visitor, state=job_state, kind=kind, page=n),
        ),
        total=total,
    )


def job_page(request: Request) -> Response:
    state, renderer = get_state(request), renderer_of(request)
    visitor = visitor_of(request, state, renderer)
    if not visitor.is_admin:
        return renderer.page(visitor, "jobs.html", status=403, jobs=[], counts={}, filters={})
    raw = request.path_params.get("job_id", "")
    job = state.catalog.find_job(int(raw)) if raw.isdigit() and len(raw) <= 18 else None
    if job is None:
        return renderer.not_found(
            visitor, f"There is no job {raw[:40]!r}.", "See the list of jobs.", channel=None
        )
    return renderer.page(
        visitor,
        "job.html",
        view=_view(visitor, job),
        list_url=jobs_url(visitor),
    )


def build_job_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    methods = ["GET", "HEAD"]
    for prefix in ("", "/t/{token}"):
        router.add_api_route(f"{prefix}/ui/{OWN_PAGES}/jobs", jobs_page, methods=methods)
        router.add_api_route(f"{prefix}/ui/{OWN_PAGES}/jobs/{{job_id}}", job_page, methods=methods)
    return router


__all__ = ["PAGE_SIZE", "build_job_router", "job_page", "jobs_page"]
