"""The web UI's pages, rendered on the server from the catalog.

```
/ui/                          channels the visitor can read
/ui/{channel}?q=&page=        subdirs, package search (name or summary), packages; a mirrored
                              channel's sync status (mirror_status.py)
/ui/{channel}/{name}?page=&files=
                              a package: install commands, run_exports, used by, versions with
                              their builds per subdir (each with its CEP 27 attestations and
                              scan findings, trust_views.py), the files of one build
                              (package_page.py)
/ui/{channel}/-/scan          the channel's scan summary (scan_page.py)
/ui/-/tokens                  token management for server-wide admins (token_pages.py)
/ui/static/style.css          the stylesheet
/ui/static/copy.js            the copy buttons (the only script; pages work without it)
/t/{token}/ui/...             the same pages with a token in the URL (conda's form)
```

Visibility is the API's: a private channel answers the same 404 page as a channel that does not
exist unless the request carries a read token (URL prefix, X-API-Key, Bearer or Basic, as for
the channel protocol), and it is absent from the list. A token from the URL is carried into the
page's own links only when it is valid, so the visitor keeps browsing with it; it is never
printed as text (install commands show `<TOKEN>`), and `Referrer-Policy: no-referrer` keeps it
out of the Referer header of outgoing links. Headers and the CSP: `common.py`.

Handlers are plain `def`s: FastAPI runs them in worker threads, so catalog reads and artifact
reads never block the event loop (the one `async` handler, the revoke form, hands its blocking
work to the thread pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from stockyard.catalog import Channel, ChannelStats
from stockyard.server.client_commands import install_commands
from stockyard.server.state import get_state
from stockyard.server.ui.common import (
    OWN_PAGES,
    SECURITY_HEADERS,
    ChannelVisit,
    Links,
    Renderer,
    Visitor,
    page_number,
    pagination,
    public_channel_url,
    renderer_of,
    visit_channel,
    visitor_of,
)
from stockyard.server.ui.mirror_status import mirror_view
from stockyard.server.ui.package_page import VERSIONS_PER_PAGE, package_page
from stockyard.server.ui.scan_page import scan_page
from stockyard.server.ui.templating import StaticFile, text
from stockyard.server.ui.token_pages import revoke_token, tokens_page
from stockyard.types.labels import is_label_channel

#: Packages per page of a channel.
PAGE_SIZE: Final = 50
#: Longer search queries are cut (as the API's `q`).
MAX_QUERY: Final = 200


# --- /ui/ ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel: Channel
    stats: ChannelStats
    url: str
    install: str


def channels_page(request: Request) -> Response:
    state, renderer = get_state(request), renderer_of(request)
    visitor = visitor_of(request, state, renderer)
    rows = []
    for channel in state.catalog.list_channels():
        if not visitor.principal.can_read(channel) or is_label_channel(channel.name):
            continue
        rows.append(
            ChannelRow(
                channel=channel,
                stats=state.catalog.channel_stats(channel.id),
                url=public_channel_url(state, channel),
                install=install_commands(
                    state.settings.base_url, channel.name, "<package>", private=channel.private
                )["conda"],
            )
        )
    return renderer.page(visitor, "channels.html", channels=rows)


# --- /ui/{channel} ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageRow:
    name: str
    version: str
    summary: str
    license: str


def channel_page(request: Request) -> Response:
    visit = visit_channel(request, request.path_params["channel"])
    if not isinstance(visit, ChannelVisit):
        return visit
    state, renderer, visitor, channel = visit.state, visit.renderer, visit.visitor, visit.channel

    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    page = page_number(request)
    offset = (page - 1) * PAGE_SIZE
    if query:
        total, found = state.catalog.search_name_or_summary(
            channel.id, query, limit=PAGE_SIZE, offset=offset
        )
    else:
        total, found = state.catalog.search_packages(channel.id, "", limit=PAGE_SIZE, offset=offset)
    stats = state.catalog.channel_stats(channel.id)
    counts = state.catalog.subdir_package_counts(channel.id)
    subdirs = [(subdir, counts.get(subdir, 0)) for subdir in sorted({*stats.subdirs, *counts})]
    packages = [
        PackageRow(
            name=item.name,
            version=text(item.entry.get("version")),
            summary=text(item.entry.get("summary")),
            license=text(item.entry.get("license")),
        )
        for item in found
    ]
    url = public_channel_url(state, channel)
    return renderer.page(
        visitor,
        "channel.html",
        channel=channel,
        stats=stats,
        subdirs=subdirs,
        query=query,
        packages=packages,
        pagination=pagination(
            page,
            total,
            PAGE_SIZE,
            lambda n: visitor.links.ui(channel.name, q=query, page=n if n > 1 else None),
        ),
        url=url,
        install=install_commands(
            state.settings.base_url, channel.name, "<package>", private=channel.private
        )["conda"],
        mirror=mirror_view(state.settings, channel.name),
        scan_href=visitor.links.scan(channel.name),
    )


# --- the rest ------------------------------------------------------------------------------------


def unknown_page(request: Request) -> Response:
    """Any other path under /ui: a trailing slash is dropped, anything else is an HTML 404."""
    rest = request.path_params.get("rest", "")
    if rest.endswith("/") and rest.strip("/"):
        target = request.url.path.rstrip("/")
        if request.url.query:
            target += f"?{request.url.query}"
        return RedirectResponse(target, status_code=308)
    state, renderer = get_state(request), renderer_of(request)
    visitor = visitor_of(request, state, renderer)
    return renderer.not_found(visitor, "There is no such page.", "Start from the channel list.")


def to_ui_root(request: Request) -> Response:
    return RedirectResponse(request.url.path + "/", status_code=308)


def _static(request: Request, asset: StaticFile) -> Response:
    if not asset.body:
        return unknown_page(request)
    etag = f'"{asset.digest}"'
    headers = {
        "etag": etag,
        # Pages link it with ?v=<digest>: a changed file has a new URL.
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def stylesheet(request: Request) -> Response:
    return _static(request, renderer_of(request).stylesheet)


def script(request: Request) -> Response:
    return _static(request, renderer_of(request).script)


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    methods = ["GET", "HEAD"]
    router.add_api_route("/ui/static/style.css", stylesheet, methods=methods)
    router.add_api_route("/ui/static/copy.js", script, methods=methods)
    for prefix in ("", "/t/{token}"):
        router.add_api_route(f"{prefix}/ui", to_ui_root, methods=methods)
        router.add_api_route(f"{prefix}/ui/", channels_page, methods=methods)
        # Before the channel routes ('-' never starts a channel name; see common.OWN_PAGES).
        router.add_api_route(f"{prefix}/ui/{OWN_PAGES}/tokens", tokens_page, methods=methods)
        router.add_api_route(
            f"{prefix}/ui/{OWN_PAGES}/tokens/revoke", revoke_token, methods=["POST"]
        )
        router.add_api_route(f"{prefix}/ui/{{channel}}", channel_page, methods=methods)
        router.add_api_route(
            f"{prefix}/ui/{{channel}}/{OWN_PAGES}/scan", scan_page, methods=methods
        )
        router.add_api_route(f"{prefix}/ui/{{channel}}/{{name}}", package_page, methods=methods)
        router.add_api_route(f"{prefix}/ui/{{rest:path}}", unknown_page, methods=methods)
    return router


__all__ = [
    "MAX_QUERY",
    "PAGE_SIZE",
    "SECURITY_HEADERS",
    "VERSIONS_PER_PAGE",
    "Links",
    "Renderer",
    "Visitor",
    "build_router",
]
