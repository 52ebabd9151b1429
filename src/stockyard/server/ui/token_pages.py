"""Token management for server-wide admins: `/ui/-/tokens` lists every token, and
`POST /ui/-/tokens/revoke` revokes one. (`-` cannot start a channel name, so these paths never
shadow a channel.)

**Viewing.** The list (display prefix, scope, channel, description, status, created, expires,
last used; never a token) is shown to a request whose token is a server-wide `admin` token: in
the URL (`/t/<admin token>/ui/-/tokens`, how a browser carries a token through the UI) or in a
header. Anyone else gets a 403 page that says what is needed. The page is `private, no-store`
like every page opened with a token.

**Revoking: CSRF-safe without sessions.** A cross-site request forgery works by making a
victim's browser send a request that the browser authenticates by itself (cookies, cached HTTP
Basic credentials). The UI has no cookies, and the revoke request is authorized only by what a
forging site cannot know or make a browser send:

- the admin token typed into the form's `admin_token` password field (the request body), or an
  `X-API-Key` header: a browser never adds that header by itself, and a cross-origin page
  cannot add it without a CORS preflight, which this server never approves;
- never by `Authorization` (a browser replays cached Basic credentials on its own) and never by
  the `/t/<token>/` prefix of the URL the form posts to (it only keeps the visitor's links; a
  URL is also shared, bookmarked and kept in history, while revoking asks for the secret to be
  given on purpose).

On top of that (defence in depth): a request that says it comes from another site
(`Sec-Fetch-Site: cross-site` or `same-site`) or whose `Origin` names another host is refused
with 403 before the form is read; the body must be `application/x-www-form-urlencoded`, at most
4 KiB; `token_id` must be a token id (digits), never a prefix; the pages cannot be framed
(`frame-ancestors 'none'`, `X-Frame-Options: DENY`), so a visitor cannot be tricked into
clicking a hidden form, and forms may post only to this origin (`form-action 'self'`). The
token to revoke is chosen with a radio button, so pressing Enter in the password field never
revokes a token the visitor did not pick. After a revocation the browser is sent back to the
list (303) with a notice; the revocation acts on the next request (tokens are never cached).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Final
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from stockyard.catalog import Catalog, now_ms
from stockyard.server.auth import authenticate
from stockyard.server.state import get_state
from stockyard.server.ui.common import Renderer, Visitor, renderer_of, visitor_of
from stockyard.types.errors import NotFound

#: The largest revoke form accepted (two short fields).
MAX_FORM_BYTES: Final = 4096
_TOKEN_ID: Final = re.compile(r"[0-9]{1,18}")
_FORM_TYPE: Final = "application/x-www-form-urlencoded"


def _render(
    renderer: Renderer,
    visitor: Visitor,
    catalog: Catalog,
    *,
    status: int = 200,
    error: str = "",
    revoked: str = "",
) -> Response:
    """The page: the list when the visitor is a server-wide admin, and a message (blocking)."""
    tokens = catalog.list_tokens() if visitor.is_admin else []
    own = visitor.principal.token
    return renderer.page(
        visitor,
        "tokens.html",
        status=status,
        tokens=tokens,
        now=now_ms(),
        error=error,
        revoked=next((t for t in tokens if str(t.id) == revoked), None),
        own_token_id=own.id if own is not None else None,
    )


def tokens_page(request: Request) -> Response:
    state, renderer = get_state(request), renderer_of(request)
    visitor = visitor_of(request, state, renderer)
    if not visitor.is_admin:
        return _render(renderer, visitor, state.catalog, status=403)
    wanted = request.query_params.get("revoked", "")
    return _render(
        renderer, visitor, state.catalog, revoked=wanted if _TOKEN_ID.fullmatch(wanted) else ""
    )


# --- POST /ui/-/tokens/revoke -------------------------------------------------------------------


def _cross_site(request: Request) -> bool:
    """Whether the browser says the form was sent from another site."""
    if request.headers.get("sec-fetch-site", "").lower() in {"cross-site", "same-site"}:
        return True
    origin = request.headers.get("origin")
    # With `Referrer-Policy: no-referrer` browsers send `Origin: null` for a same-origin POST,
    # so only an Origin that names a host is compared.
    if not origin or origin == "null":
        return False
    host = request.headers.get("host", "")
    public = urlsplit(get_state(request).settings.base_url).netloc
    try:
        sender = urlsplit(origin).netloc.lower()
    except ValueError:
        return True  # not an origin a browser sends
    return sender not in {host.lower(), public.lower()}


async def _read_form(request: Request) -> dict[str, str] | None:
    """The urlencoded body as single values, or None when it is too large or not a form."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM_TYPE:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    return {key: values[0] for key, values in fields.items() if len(values) == 1}


async def revoke_token(request: Request) -> Response:
    state, renderer = get_state(request), renderer_of(request)
    visitor = await run_in_threadpool(visitor_of, request, state, renderer)

    async def refuse(message: str, status: int = 403) -> Response:
        return await run_in_threadpool(
            partial(_render, renderer, visitor, state.catalog, status=status, error=message)
        )

    if _cross_site(request):
        return await refuse("A token can be revoked only from this site's own page.")
    form = await _read_form(request)
    if form is None:
        return await refuse("The form could not be read; use the form on this page.", 400)
    given = request.headers.get("x-api-key", "").strip() or form.get("admin_token", "").strip()
    admin = await run_in_threadpool(authenticate, state.catalog, given or None)
    if not admin.can("admin", None):
        return await refuse(
            "Revoking needs a server-wide admin token: the token given is missing, unknown, "
            "expired, revoked or not a server-wide admin token."
        )
    token_id = form.get("token_id", "")
    if not _TOKEN_ID.fullmatch(token_id):
        return await refuse("Choose the token to revoke.", 400)
    try:
        await run_in_threadpool(state.catalog.revoke_token, token_id)
    except NotFound:
        return await refuse(f"There is no token {token_id}.", 404)
    return RedirectResponse(visitor.links.tokens(revoked=token_id), status_code=303)


__all__ = ["MAX_FORM_BYTES", "revoke_token", "tokens_page"]
