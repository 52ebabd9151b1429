"""The web UI's pages, rendered on the server from the catalog.

```
/ui/                          channels the visitor can read
/ui/{channel}?q=&page=        subdirs, package search (name or summary), packages
/ui/{channel}/{name}?page=    versions (newest first) with their builds per subdir
/ui/static/style.css          the stylesheet
/t/{token}/ui/...             the same pages with a token in the URL (conda's form)
```

Visibility is the API's: a private channel answers the same 404 page as a channel that does not
exist unless the request carries a read token (URL prefix, X-API-Key, Bearer or Basic, as for
the channel protocol), and it is absent from the list. A token from the URL is carried into the
page's own links only when it is valid, so the visitor keeps browsing with it; it is never
printed as text (install commands show `<TOKEN>`), and `Referrer-Policy: no-referrer` keeps it
out of the Referer header of outgoing links.

Handlers are plain `def`s: FastAPI runs them in worker threads, so catalog reads never block the
event loop.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from jinja2 import Environment
from starlette.responses import HTMLResponse, RedirectResponse, Response

from stockyard.catalog import Catalog, Channel, ChannelStats
from stockyard.server.api import group_versions
from stockyard.server.auth import Principal, authenticate, presented_token, readable_channel
from stockyard.server.client_commands import (
    TOKEN_PLACEHOLDER,
    channel_url,
    install_commands,
    pixi_commands,
)
from stockyard.server.models import BuildOut, VersionOut
from stockyard.server.state import ServerState, get_state
from stockyard.server.ui.templating import Stylesheet, text
from stockyard.types.errors import NotFound

#: Packages per page of a channel.
PAGE_SIZE: Final = 50
#: Versions per page of a package (each with all its builds).
VERSIONS_PER_PAGE: Final = 20
#: Longer search queries are cut (as the API's `q`).
MAX_QUERY: Final = 200

#: Headers of every UI page. No script runs (CSP), the page cannot be framed, and outgoing links
#: carry no Referer (a `/t/<token>/` URL must not leak to a package's home page). `data:` images
#: are for the inline favicon (without one, browsers ask for /favicon.ico).
SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


# --- who is looking, and where their links go ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Links:
    """The URLs a page links to. `base` is the app's root path plus `/t/<token>` when the page
    was opened with a valid token in its URL; the stylesheet never carries the token."""

    root: str
    base: str
    stylesheet_version: str

    def ui(self, channel: str | None = None, package: str | None = None, **query: Any) -> str:
        path = f"{self.base}/ui/"
        if channel is not None:
            path += quote(channel, safe="")
            if package is not None:
                path += "/" + quote(package, safe="")
        params = {key: value for key, value in query.items() if value not in (None, "")}
        return f"{path}?{urlencode(params)}" if params else path

    def files(self, channel: str) -> str:
        """The channel's root on this server (packages are `files(c)/<subdir>/<filename>`)."""
        return f"{self.base}/{quote(channel, safe='')}"

    def stylesheet(self) -> str:
        return f"{self.root}/ui/static/style.css?v={self.stylesheet_version}"

    def api_docs(self) -> str:
        return f"{self.root}/api/docs"


@dataclass(frozen=True, slots=True)
class Visitor:
    principal: Principal
    links: Links
    #: The URL held a token that is unknown, expired or revoked: the page is what an anonymous
    #: visitor sees, and says so.
    rejected_url_token: bool = False


def _visitor(request: Request, state: ServerState, stylesheet: Stylesheet) -> Visitor:
    """Authenticate the request (blocking: one catalog read)."""
    url_token = request.path_params.get("token")
    principal = authenticate(state.catalog, presented_token(request.headers, url_token))
    root = str(request.scope.get("root_path", "")).rstrip("/")
    keep = bool(url_token) and principal.token is not None
    base = f"{root}/t/{url_token}" if keep else root
    return Visitor(
        principal,
        Links(root, base, stylesheet.digest),
        rejected_url_token=bool(url_token) and principal.token is None,
    )


# --- rendering ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Renderer:
    """The Jinja environment and stylesheet of one app (built by `register`)."""

    env: Environment
    stylesheet: Stylesheet

    def page(
        self, visitor: Visitor, template: str, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        body = self.env.get_template(template).render(
            links=visitor.links, visitor=visitor, **context
        )
        headers = dict(SECURITY_HEADERS)
        if visitor.principal.presented:
            # What a token shows must not sit in a shared cache or the browser's disk cache.
            headers["cache-control"] = "private, no-store"
        else:
            headers["cache-control"] = "no-cache"
        headers["vary"] = "Authorization, X-API-Key"
        return HTMLResponse(body, status_code=status, headers=headers)

    def not_found(
        self, visitor: Visitor, message: str, hint: str = "", channel: str | None = None
    ) -> HTMLResponse:
        return self.page(
            visitor, "not_found.html", status=404, message=message, hint=hint, channel=channel
        )


def _renderer(request: Request) -> Renderer:
    return request.app.state.stockyard_ui


def _page_number(request: Request) -> int:
    """`?page=N` (1-based); anything odd is page 1 rather than an error page."""
    raw = request.query_params.get("page", "1")
    try:
        number = int(raw) if len(raw) <= 9 else 1
    except ValueError:
        return 1
    return max(number, 1)


@dataclass(frozen=True, slots=True)
class Pagination:
    page: int
    pages: int
    total: int
    previous: str | None
    next: str | None


def _pagination(page: int, total: int, size: int, link: Callable[[int], str]) -> Pagination:
    pages = max(1, -(-total // size))
    return Pagination(
        page=page,
        pages=pages,
        total=total,
        # Past the end (a stale bookmark), "previous" leads back to the last page.
        previous=link(min(page - 1, pages)) if page > 1 else None,
        next=link(page + 1) if page < pages else None,
    )


def _public_channel_url(state: ServerState, channel: Channel) -> str:
    """The URL to give conda: with a `<TOKEN>` placeholder for a private channel."""
    return channel_url(
        state.settings.base_url, channel.name, TOKEN_PLACEHOLDER if channel.private else None
    )


# --- /ui/ ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel: Channel
    stats: ChannelStats
    url: str
    install: str


def channels_page(request: Request) -> Response:
    state, renderer = get_state(request), _renderer(request)
    visitor = _visitor(request, state, renderer.stylesheet)
    rows = []
    for channel in state.catalog.list_channels():
        if not visitor.principal.can_read(channel):
            continue
        rows.append(
            ChannelRow(
                channel=channel,
                stats=state.catalog.channel_stats(channel.id),
                url=_public_channel_url(state, channel),
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


def _readable(catalog: Catalog, name: str, visitor: Visitor) -> Channel | None:
    try:
        return readable_channel(catalog, name, visitor.principal)
    except NotFound:
        return None


def _missing_channel(renderer: Renderer, visitor: Visitor, name: str) -> HTMLResponse:
    # The words of auth._missing: a private channel is indistinguishable from a missing one.
    return renderer.not_found(
        visitor,
        f"Channel {name!r} does not exist.",
        "Check the channel name; a private channel needs a token with read scope.",
    )


def channel_page(request: Request) -> Response:
    state, renderer = get_state(request), _renderer(request)
    visitor = _visitor(request, state, renderer.stylesheet)
    name = request.path_params["channel"]
    channel = _readable(state.catalog, name, visitor)
    if channel is None:
        return _missing_channel(renderer, visitor, name)

    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    page = _page_number(request)
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
    url = _public_channel_url(state, channel)
    return renderer.page(
        visitor,
        "channel.html",
        channel=channel,
        stats=stats,
        subdirs=subdirs,
        query=query,
        packages=packages,
        pagination=_pagination(
            page,
            total,
            PAGE_SIZE,
            lambda n: visitor.links.ui(channel.name, q=query, page=n if n > 1 else None),
        ),
        url=url,
        install=install_commands(
            state.settings.base_url, channel.name, "<package>", private=channel.private
        )["conda"],
    )


# --- /ui/{channel}/{name} -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubdirBuilds:
    subdir: str
    builds: list[BuildOut]


@dataclass(frozen=True, slots=True)
class VersionView:
    version: str
    subdirs: list[SubdirBuilds]
    conda: str
    pixi: str
    build_count: int


def _version_view(
    version: VersionOut, state: ServerState, channel: Channel, name: str
) -> VersionView:
    by_subdir: dict[str, list[BuildOut]] = {}
    for build in version.builds:  # already ordered by subdir, newest build number first
        by_subdir.setdefault(build.subdir, []).append(build)
    spec = shlex.quote(f"{name}={version.version}")
    conda = install_commands(state.settings.base_url, channel.name, spec, private=channel.private)
    return VersionView(
        version=version.version,
        subdirs=[SubdirBuilds(subdir, builds) for subdir, builds in by_subdir.items()],
        conda=conda["conda"],
        pixi=pixi_commands(_public_channel_url(state, channel), spec),
        build_count=len(version.builds),
    )


def package_page(request: Request) -> Response:
    state, renderer = get_state(request), _renderer(request)
    visitor = _visitor(request, state, renderer.stylesheet)
    channel_name, name = request.path_params["channel"], request.path_params["name"]
    channel = _readable(state.catalog, channel_name, visitor)
    if channel is None:
        return _missing_channel(renderer, visitor, channel_name)
    artifacts = state.catalog.package_artifacts(channel.id, name)
    if not artifacts:
        return renderer.not_found(
            visitor,
            f"Package {name!r} is not in channel {channel.name!r}.",
            "Search the channel for the name.",
            channel=channel.name,
        )

    versions = group_versions(artifacts, visitor.links.files(channel.name))
    latest = versions[0]
    entry = state.catalog.package_entry(channel.id, name) or {}
    about = next(
        (a.about for a in artifacts if a.version == latest.version and a.about), None
    ) or next((a.about for a in artifacts if a.about), {})

    def field_of(key: str) -> str:
        return text(entry.get(key)) or text(about.get(key))

    page = _page_number(request)
    start = (page - 1) * VERSIONS_PER_PAGE
    shown = [
        _version_view(v, state, channel, name) for v in versions[start : start + VERSIONS_PER_PAGE]
    ]
    url = _public_channel_url(state, channel)
    return renderer.page(
        visitor,
        "package.html",
        channel=channel,
        name=name,
        latest=latest.version,
        summary=field_of("summary"),
        # about.json keeps the description's paragraphs; channeldata flattens it to one line.
        description=text(about.get("description")) or text(entry.get("description")),
        license=field_of("license"),
        home=field_of("home"),
        doc_url=field_of("doc_url"),
        dev_url=field_of("dev_url"),
        subdirs=sorted({a.subdir for a in artifacts}),
        version_count=len(versions),
        build_count=len(artifacts),
        versions=shown,
        first_page=page == 1,
        pagination=_pagination(
            page,
            len(versions),
            VERSIONS_PER_PAGE,
            lambda n: visitor.links.ui(channel.name, name, page=n if n > 1 else None),
        ),
        url=url,
        conda=install_commands(
            state.settings.base_url, channel.name, name, private=channel.private
        )["conda"],
        pixi=pixi_commands(url, name),
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
    state, renderer = get_state(request), _renderer(request)
    visitor = _visitor(request, state, renderer.stylesheet)
    return renderer.not_found(visitor, "There is no such page.", "Start from the channel list.")


def to_ui_root(request: Request) -> Response:
    return RedirectResponse(request.url.path + "/", status_code=308)


def stylesheet(request: Request) -> Response:
    sheet = _renderer(request).stylesheet
    etag = f'"{sheet.digest}"'
    headers = {
        "etag": etag,
        # Pages link it with ?v=<digest>: a changed file has a new URL.
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(sheet.body, media_type="text/css; charset=utf-8", headers=headers)


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    methods = ["GET", "HEAD"]
    router.add_api_route("/ui/static/style.css", stylesheet, methods=methods)
    for prefix in ("", "/t/{token}"):
        router.add_api_route(f"{prefix}/ui", to_ui_root, methods=methods)
        router.add_api_route(f"{prefix}/ui/", channels_page, methods=methods)
        router.add_api_route(f"{prefix}/ui/{{channel}}", channel_page, methods=methods)
        router.add_api_route(f"{prefix}/ui/{{channel}}/{{name}}", package_page, methods=methods)
        router.add_api_route(f"{prefix}/ui/{{rest:path}}", unknown_page, methods=methods)
    return router


__all__ = ["Links", "Renderer", "Visitor", "build_router"]
