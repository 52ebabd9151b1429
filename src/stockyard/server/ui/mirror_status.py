"""The mirror status on a mirrored channel's page (`templates/mirror_status.html`): upstream,
last sync and its result, last success, next sync, the last run's counts and error. Read from
where mirror runs record it (`server.mirror_schedule.mirror_status`: a scheduled mirror's
status file, else the last published `stockyard mirror --server-channel` run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stockyard.config import Settings

#: (key in the status's last_result, label), in the order shown.
_COUNTS = (
    ("selected", "selected"),
    ("added", "added"),
    ("changed", "changed"),
    ("removed", "removed"),
    ("unchanged", "unchanged"),
    ("refused", "refused"),
    ("unsatisfied", "unsatisfied dependencies"),
)


@dataclass(frozen=True, slots=True)
class MirrorView:
    upstream: str
    #: never, running, ok or failed.
    state: str
    scheduled: bool
    last_finished: int | None
    last_success: int | None
    next_run: int | None
    #: (label, number) of the last run that finished.
    counts: list[tuple[str, int]]
    #: The last run found upstream and the channel unchanged (nothing to do).
    up_to_date: bool
    error: str | None
    hint: str | None


def mirror_view(settings: Settings, channel: str) -> MirrorView | None:
    """Blocking (reads a file): the channel's mirror status, None when it is no mirror."""
    from stockyard.server.mirror_schedule import mirror_status

    status = mirror_status(settings, channel)
    if status is None:
        return None
    result: dict[str, Any] = status.get("last_result") or {}
    error: dict[str, Any] = status.get("last_error") or {}
    return MirrorView(
        upstream=str(status.get("upstream", "")),
        state=str(status.get("state", "never")),
        scheduled=bool(status.get("scheduled")),
        last_finished=_ms(status.get("last_finished")),
        last_success=_ms(status.get("last_success")),
        next_run=_ms(status.get("next_run")),
        counts=[(label, int(result[key])) for key, label in _COUNTS if key in result],
        up_to_date=bool(result.get("up_to_date")),
        error=str(error["message"]) if error.get("message") else None,
        hint=str(error["hint"]) if error.get("hint") else None,
    )


def _ms(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
