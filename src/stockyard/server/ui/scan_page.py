"""`/ui/{channel}/-/scan`: the channel's scan summary (`trust_views.channel_scan`).

Counts per status and severity, the advisory database it was matched against, and every
vulnerable or unreadable artifact with its findings, each linking to its package page and its
advisories. Read rights are the channel's, as on every page.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from stockyard.server.state import get_state
from stockyard.server.ui.common import missing_channel, readable, renderer_of, visitor_of
from stockyard.server.ui.trust_views import channel_scan


def scan_page(request: Request) -> Response:
    state, renderer = get_state(request), renderer_of(request)
    visitor = visitor_of(request, state, renderer)
    name = request.path_params["channel"]
    channel = readable(state.catalog, name, visitor)
    if channel is None:
        return missing_channel(renderer, visitor, name)
    return renderer.page(
        visitor, "channel_scan.html", channel=channel, scan=channel_scan(state, channel)
    )


__all__ = ["scan_page"]
