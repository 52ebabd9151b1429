"""Labels in the JSON API: list a channel's labels, read and change an artifact's labels.

A label is served at `/<channel>/label/<label>/` (see `stockyard.types.labels`); rights on a
label are the channel's. Handlers are plain `def`s (run in worker threads).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from stockyard.labels import channel_labels, labels_of, relabel
from stockyard.server.api import Caller, State
from stockyard.server.auth import channel_for, readable_channel
from stockyard.server.models import ErrorOut, LabelChangeIn, LabelOut, LabelsOut
from stockyard.types.errors import NotFound
from stockyard.types.labels import label_channel_name

router = APIRouter(prefix="/api", tags=["labels"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "An invalid label or name."},
    401: {"model": ErrorOut, "description": "Missing or invalid token."},
    403: {"model": ErrorOut, "description": "The token lacks write scope on the channel."},
    404: {"model": ErrorOut, "description": "No such channel or artifact."},
    409: {"model": ErrorOut, "description": "The change would leave the artifact unlabelled."},
    503: {"model": ErrorOut, "description": "Stored but not yet published, or channel busy."},
}
_LABELS = "/channels/{channel}/packages/{subdir}/{filename}/labels"
Subdir = Annotated[str, Path(min_length=1, max_length=64)]
Filename = Annotated[str, Path(min_length=1, max_length=256)]


@router.get("/channels/{channel}/labels", response_model=list[LabelOut], responses=_ERRORS)
def get_labels(channel: str, state: State, caller: Caller) -> list[LabelOut]:
    """The channel's labels (`main` is the channel root) with their URLs and counts."""
    found = readable_channel(state.catalog, channel, caller)
    out = []
    for label in channel_labels(state.catalog, found.name):
        name = label_channel_name(found.name, label)
        stats = state.catalog.channel_stats(state.catalog.require_channel(name).id)
        out.append(
            LabelOut(
                label=label,
                url=state.channel_url(name),
                package_count=stats.package_count,
                artifact_count=stats.artifact_count,
            )
        )
    return out


@router.get(_LABELS, response_model=LabelsOut, responses=_ERRORS)
def get_artifact_labels(
    channel: str, subdir: Subdir, filename: Filename, state: State, caller: Caller
) -> LabelsOut:
    """The labels an artifact carries."""
    found = readable_channel(state.catalog, channel, caller)
    labels = labels_of(state.catalog, found.name, subdir, filename)
    if not labels:
        raise NotFound(f"{subdir}/{filename} is in no label of channel {found.name}")
    return LabelsOut(channel=found.name, subdir=subdir, filename=filename, labels=labels)


@router.post(_LABELS, response_model=LabelsOut, responses=_ERRORS)
def post_artifact_labels(
    channel: str,
    subdir: Subdir,
    filename: Filename,
    body: LabelChangeIn,
    state: State,
    caller: Caller,
) -> LabelsOut:
    """Add and remove labels: `{"add": ["broken"], "remove": ["main"]}` moves a package to
    `broken` (gone from the channel root, listed in its `removed`)."""
    from stockyard.server.channels import ServedChannels

    found = channel_for(state.catalog, channel, caller, "write")
    change = relabel(
        state.catalog,
        ServedChannels(state.settings, state.catalog),
        found.name,
        subdir,
        filename,
        add=body.add,
        remove=body.remove,
        lock_timeout=state.settings.lock_timeout,
    )
    return LabelsOut(
        channel=change.channel,
        subdir=change.subdir,
        filename=change.filename,
        labels=change.labels,
        added=change.added,
        removed=change.removed,
    )
