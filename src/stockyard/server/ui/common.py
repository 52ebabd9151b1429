"""What every page of the web UI shares: who is looking, where their links go, rendering,
security headers, pagination.

The Content-Security-Policy allows the UI's own stylesheet and its one script (the copy
buttons, `/ui/static/copy.js`), nothing inline, no `eval`, no other origin; `require-trusted-
types-for 'script'` keeps DOM sinks such as `innerHTML` closed to strings even for that script.
Forms post only to this origin, the page cannot be framed, and outgoing links carry no Referer
(a `/t/<token>/` URL must not leak to a package's home page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

from fastapi import Request
from jinja2 import Environment
from starlette.responses import HTMLResponse

from stockyard.catalog import Catalog, Channel
from stockyard.server.auth import Principal, authenticate, presented_token, readable_channel
from stockyard.server.client_commands import TOKEN_PLACEHOLDER, channel_url
from stockyard.server.state import ServerState, get_state
from stockyard.server.ui.templating import StaticFile
from stockyard.types.errors import NotFound

#: Headers of every UI page. Scripts only from this origin's files (no inline script, no
#: eval), the page cannot be framed, outgoing links carry no Referer. `data:` images are for
#: the inline favicon (without one, browsers ask for /favicon.ico).
SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; "
        "require-trusted-types-for 'script'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}

#: Path segment of the UI's own pages that are not channels (a channel name never starts
#: with '-', so `/ui/-/tokens` cannot collide with a channel called `tokens`).
OWN_PAGES: Final = "-"


# --- who is looking, and where their links go ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Links:
    """The URLs a page links to. `base` is the app's root path plus `/t/<token>` when the page
    was opened with a valid token in its URL; static files never carry the token."""

    root: str
    base: str
    stylesheet_version: str
    script_version: str = ""

    def ui(
        self,
        channel: str | None = None,
        package: str | None = None,
        fragment: str = "",
        **query: Any,
    ) -> str:
        path = f"{self.base}/ui/"
        if channel is not None:
            path += quote(channel, safe="")
            if package is not None:
                path += "/" + quote(package, safe="")
        params = {key: value for key, value in query.items() if value not in (None, "")}
        url = f"{path}?{urlencode(params)}" if params else path
        return f"{url}#{fragment}" if fragment else url

    def scan(self, channel: str) -> str:
        """The channel's scan summary (`/ui/{channel}/-/scan`; no package is named `-`)."""
        return f"{self.base}/ui/{quote(channel, safe='')}/{OWN_PAGES}/scan"

    def files(self, channel: str) -> str:
        """The channel's root on this server (packages are `files(c)/<subdir>/<filename>`)."""
        return f"{self.base}/{quote(channel, safe='')}"

    def tokens(self, **query: Any) -> str:
        """The token management page (server-wide admins)."""
        params = {key: value for key, value in query.items() if value not in (None, "")}
        path = f"{self.base}/ui/{OWN_PAGES}/tokens"
        return f"{path}?{urlencode(params)}" if params else path

    def revoke_token(self) -> str:
        return f"{self.base}/ui/{OWN_PAGES}/tokens/revoke"

    def stylesheet(self) -> str:
        return f"{self.root}/ui/static/style.css?v={self.stylesheet_version}"

    def script(self) -> str:
        return f"{self.root}/ui/static/copy.js?v={self.script_version}"

    def api_docs(self) -> str:
        return f"{self.root}/api/docs"


@dataclass(frozen=True, slots=True)
class Visitor:
    principal: Principal
    links: Links
    #: The URL held a token that is unknown, expired or revoked: the page is what an anonymous
    #: visitor sees, and says so.
    rejected_url_token: bool = False

    @property
    def is_admin(self) -> bool:
        """A server-wide admin token (may manage tokens)."""
        return self.principal.can("admin", None)


# --- rendering ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Renderer:
    """The Jinja environment and static files of one app (built by `register`)."""

    env: Environment
    stylesheet: StaticFile
    script: StaticFile

    def page(
        self,
        visitor: Visitor,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        body = self.env.get_template(template).render(
            links=visitor.links, visitor=visitor, **context
        )
        all_headers = dict(SECURITY_HEADERS)
        if visitor.principal.presented:
            # What a token shows must not sit in a shared cache or the browser's disk cache.
            all_headers["cache-control"] = "private, no-store"
        else:
            all_headers["cache-control"] = "no-cache"
        all_headers["vary"] = "Authorization, X-API-Key"
        all_headers.update(headers or {})
        return HTMLResponse(body, status_code=status, headers=all_headers)

    def not_found(
        self, visitor: Visitor, message: str, hint: str = "", channel: str | None = None
    ) -> HTMLResponse:
        return self.page(
            visitor, "not_found.html", status=404, message=message, hint=hint, channel=channel
        )


def renderer_of(request: Request) -> Renderer:
    renderer: Renderer = request.app.state.stockyard_ui
    return renderer


def visitor_of(request: Request, state: ServerState, renderer: Renderer) -> Visitor:
    """Authenticate the request (blocking: one catalog read)."""
    url_token = request.path_params.get("token")
    principal = authenticate(state.catalog, presented_token(request.headers, url_token))
    root = str(request.scope.get("root_path", "")).rstrip("/")
    keep = bool(url_token) and principal.token is not None
    base = f"{root}/t/{url_token}" if keep else root
    return Visitor(
        principal,
        Links(root, base, renderer.stylesheet.digest, renderer.script.digest),
        rejected_url_token=bool(url_token) and principal.token is None,
    )


def page_number(request: Request) -> int:
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


def pagination(page: int, total: int, size: int, link: Callable[[int], str]) -> Pagination:
    pages = max(1, -(-total // size))
    return Pagination(
        page=page,
        pages=pages,
        total=total,
        # Past the end (a stale bookmark), "previous" leads back to the last page.
        previous=link(min(page - 1, pages)) if page > 1 else None,
        next=link(page + 1) if page < pages else None,
    )


def public_channel_url(state: ServerState, channel: Channel) -> str:
    """The URL to give conda: with a `<TOKEN>` placeholder for a private channel."""
    return channel_url(
        state.settings.base_url, channel.name, TOKEN_PLACEHOLDER if channel.private else None
    )


def readable(catalog: Catalog, name: str, visitor: Visitor) -> Channel | None:
    try:
        return readable_channel(catalog, name, visitor.principal)
    except NotFound:
        return None


def missing_channel(renderer: Renderer, visitor: Visitor, name: str) -> HTMLResponse:
    # The words of auth._missing: a private channel is indistinguishable from a missing one.
    return renderer.not_found(
        visitor,
        f"Channel {name!r} does not exist.",
        "Check the channel name; a private channel needs a token with read scope.",
    )


@dataclass(frozen=True, slots=True)
class ChannelVisit:
    """A page about the channel named in the path, for this visitor."""

    state: ServerState
    renderer: Renderer
    visitor: Visitor
    channel: Channel


def visit_channel(request: Request, name: str) -> ChannelVisit | HTMLResponse:
    """Who visits and the channel `name` they may read, or the not-found page (blocking: the
    catalog is read)."""
    state, renderer = get_state(request), renderer_of(request)
    visitor = visitor_of(request, state, renderer)
    channel = readable(state.catalog, name, visitor)
    if channel is None:
        return missing_channel(renderer, visitor, name)
    return ChannelVisit(state, renderer, visitor, channel)


__all__ = [
    "OWN_PAGES",
    "SECURITY_HEADERS",
    "ChannelVisit",
    "Links",
    "Pagination",
    "Renderer",
    "Visitor",
    "missing_channel",
    "page_number",
    "pagination",
    "public_channel_url",
    "readable",
    "renderer_of",
    "visit_channel",
    "visitor_of",
]
