"""A job as a JSON-able document (the API, `stockyard job ... --json`, the web UI)."""

from __future__ import annotations

from typing import Any

import msgspec

from stockyard.catalog import JobRow


def decoded(text: str | None) -> Any:
    """Stored JSON as builtins (None stays None; unreadable text is kept as text)."""
    if text is None:
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def job_document(job: JobRow) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "arguments": decoded(job.arguments) or {},
        "state": job.state,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "error": job.error,
        "result": decoded(job.result),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "retry_at": job.retry_at,
        "worker": job.worker,
        "runner": job.runner,
    }
