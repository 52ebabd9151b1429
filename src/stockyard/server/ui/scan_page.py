"""`/ui/{channel}/-/scan`: the channel's scan summary (`trust_views.channel_scan`).

Counts per status and severity, the advisory database it was matched against, and every
vulnerable or unreadable artifact with its findings, each linking to its package page and its
advisories. Read rights are the channel's, as on every page.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from stockyard.server.ui.common import ChannelVisit, visit_channel
from stockyard.server.ui.trust_views import channel_scan


def scan_page(request: Request) -> Response:
    visit = visit_channel(request, request.path_params["channel"])
    if not isinstance(visit, ChannelVisit):
        return visit
    scan = channel_scan(visit.state, visit.channel)
    return visit.renderer.page(visit.visitor, "channel_scan.html", channel=visit.channel, scan=scan)


__all__ = ["scan_page"]
