"""The job kinds: each a job function, the arguments it takes (a msgspec Struct, so a request's
arguments are checked before anything is queued) and the queue its jobs go to."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta

from stockyard.catalog import Catalog
from stockyard.config import Settings
from stockyard.jobs import functions
from stockyard.jobs.errors import InvalidJob
from stockyard.jobs.garbage import collect_garbage
from stockyard.types.encoding import encode_json
from stockyard.types.errors import Conflict

#: The Celery queues: mirror syncs and scans can take long, so they have their own, and a
#: deployment can give them their own workers (`stockyard worker --queues stockyard.mirror`).
DEFAULT_QUEUE: Final = "stockyard"
MIRROR_QUEUE: Final = "stockyard.mirror"
SCAN_QUEUE: Final = "stockyard.scan"
QUEUES: Final = (DEFAULT_QUEUE, MIRROR_QUEUE, SCAN_QUEUE)

ChannelName = Annotated[str, Meta(min_length=1, max_length=256)]


class _Arguments(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ChannelArguments(_Arguments, frozen=True, kw_only=True):
    channel: ChannelName


class ScanArguments(ChannelArguments, frozen=True, kw_only=True):
    force: bool = False


class NoArguments(_Arguments, frozen=True, kw_only=True):
    pass


class GcArguments(_Arguments, frozen=True, kw_only=True):
    keep_jobs_days: Annotated[int, Meta(ge=1, le=3650)] = 30


def _channel_exists(settings: Settings, catalog: Catalog, arguments: Any) -> None:
    catalog.require_channel(arguments.channel)


def _indexable(settings: Settings, catalog: Catalog, arguments: Any) -> None:
    channel = catalog.require_channel(arguments.channel)
    if catalog.channel_policy(channel.id).proxy is not None:
        raise Conflict(
            f"channel {arguments.channel!r} is a proxy channel: its files come from its upstreams",
            hint="Re-index or scan only channels that hold their own artifacts.",
        )


def _mirrored(settings: Settings, catalog: Catalog, arguments: Any) -> None:
    functions.scheduled_mirror(settings, arguments.channel)


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    summary: str
    function: Callable[..., dict[str, Any]]
    arguments: type[_Arguments]
    queue: str = DEFAULT_QUEUE
    #: What must hold before a job is queued (a channel that exists...); raises if not.
    check: Callable[[Settings, Catalog, Any], None] | None = None


KINDS: Final[dict[str, JobKind]] = {
    kind.name: kind
    for kind in (
        JobKind(
            "reindex",
            "Index a channel's files and publish what changed.",
            functions.reindex,
            ChannelArguments,
            check=_indexable,
        ),
        JobKind(
            "mirror_sync",
            "One run of a channel's scheduled mirror ([[mirrors]] in the settings).",
            functions.mirror_sync,
            ChannelArguments,
            MIRROR_QUEUE,
            _mirrored,
        ),
        JobKind(
            "snapshots",
            "Take the snapshots channel schedules say are due; prune to their keep.",
            functions.snapshots,
            NoArguments,
        ),
        JobKind(
            "scan",
            "Scan a channel's artifacts not scanned yet (all with force).",
            functions.scan,
            ScanArguments,
            SCAN_QUEUE,
            _indexable,
        ),
        JobKind(
            "gc",
            "Remove stale upload spools, orphan staged files, trash, old snapshots and jobs.",
            collect_garbage,
            GcArguments,
        ),
    )
}


def job_kind(name: str) -> JobKind:
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidJob(
            f"unknown job kind {name[:64]!r}", hint=f"Job kinds: {', '.join(sorted(KINDS))}."
        )
    return kind


def parse_arguments(kind: JobKind, arguments: Mapping[str, Any] | None) -> Any:
    """`arguments` as the kind's Struct (InvalidJob naming what is wrong)."""
    try:
        return msgspec.convert(dict(arguments or {}), kind.arguments, strict=True)
    except msgspec.ValidationError as exc:
        fields = ", ".join(kind.arguments.__struct_fields__) or "none"
        raise InvalidJob(
            f"invalid arguments for a {kind.name} job: {exc}",
            hint=f"A {kind.name} job takes: {fields} (see docs/jobs.md).",
        ) from None


def canonical_arguments(arguments: Any) -> str:
    """The arguments as stored: compact JSON with sorted keys, defaults included."""
    return encode_json(msgspec.to_builtins(arguments)).decode()


def work_key(kind: str, arguments: str) -> str:
    """Names the work a job does: jobs with the same key do the same thing."""
    return hashlib.sha256(f"{kind}\0{arguments}".encode()).hexdigest()


def run_job_function(settings: Settings, kind: str, arguments: str) -> dict[str, Any]:
    """Call the function of a stored job."""
    spec = job_kind(kind)
    parsed = parse_arguments(spec, msgspec.json.decode(arguments))
    return spec.function(settings, **msgspec.structs.asdict(parsed))


def arguments_from_text(kind: str, pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` words (the CLI) as the kind's arguments, each value converted to its
    field's type (`force=true`, `keep_jobs_days=7`)."""
    spec = job_kind(kind)
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidJob(f"argument {pair!r} is not KEY=VALUE", hint="e.g. channel=main")
        values[key.strip()] = value
    try:
        parsed = msgspec.convert(values, spec.arguments, strict=False)
    except msgspec.ValidationError as exc:
        fields = ", ".join(spec.arguments.__struct_fields__) or "none"
        raise InvalidJob(
            f"invalid arguments for a {kind} job: {exc}",
            hint=f"A {kind} job takes: {fields} (see docs/jobs.md).",
        ) from None
    converted: dict[str, Any] = msgspec.to_builtins(parsed)
    return converted
