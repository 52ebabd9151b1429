"""Who is asking, and may they: tokens from the request, and channel visibility rules.

A token is accepted as the `/t/<token>/` URL prefix (conda's form), an `X-API-Key` header
(quetz), `Authorization: Bearer` (prefix.dev, artifactory) or the password of
`Authorization: Basic` (pip-style URLs, artifactory); the first one present wins.

Rules:
- A private channel does not exist for a caller without a read token for it: every route answers
  404, exactly as for a channel that does not exist.
- Reading a public channel never needs a token. An invalid, expired or revoked token on such a
  read is ignored (the caller is anonymous): conda sends the token with every request, and a
  channel that anyone may read should not break because a stale token sits in a config file.
  The same stale token gets nothing a token is needed for: private channels, uploads, admin.
- Writing (uploads) needs a `write` token for the channel (or a server-wide one), admin
  routes an `admin` token. Missing or invalid credentials: 401; valid ones without the scope: 403.
- Tokens are looked up on every request (no cache), so revocation and expiry act at once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

from stockyard.catalog import Catalog, Channel, Scope, TokenInfo
from stockyard.types.errors import Forbidden, NotFound, Unauthorized


@dataclass(frozen=True, slots=True)
class Principal:
    #: The active token of the caller; None for anonymous callers.
    token: TokenInfo | None = None
    #: Whether the caller sent credentials at all (to tell "missing" from "invalid").
    presented: bool = False

    def can(self, scope: Scope, channel: Channel | None) -> bool:
        """`scope` on `channel` (None: server-wide, e.g. creating channels)."""
        if self.token is None:
            return False
        return self.token.allows(scope, channel.id if channel is not None else None)

    def can_read(self, channel: Channel) -> bool:
        return not channel.private or self.can("read", channel)


ANONYMOUS = Principal()


def presented_token(headers: Mapping[str, str], url_token: str | None = None) -> str | None:
    """The token a request carries, in order: URL prefix, X-API-Key, Bearer, Basic password."""
    if url_token:
        return url_token
    api_key = headers.get("x-api-key")
    if api_key:
        return api_key.strip()
    authorization = headers.get("authorization")
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme in {"bearer", "token"}:
        return value or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        # `https://TOKEN@host/` URLs put the token in the user name with an empty password.
        return password or user or None
    return None


def authenticate(catalog: Catalog, token: str | None) -> Principal:
    """The principal for a presented token (blocking: one catalog read)."""
    if not token:
        return ANONYMOUS
    return Principal(catalog.authenticate_token(token), presented=True)


def _missing(name: str) -> NotFound:
    # The same words for "does not exist" and "private and you may not see it".
    return NotFound(
        f"channel {name!r} does not exist",
        hint="Check the channel name; a private channel needs a token with read scope.",
    )


def require_credentials(principal: Principal, action: str) -> None:
    if principal.token is not None:
        return
    if principal.presented:
        raise Unauthorized(
            f"{action}: the token is invalid, expired or revoked",
            hint="Create a new one: stockyard token create --scope write --channel NAME",
        )
    raise Unauthorized(f"{action} needs a token")


def readable_channel(catalog: Catalog, name: str, principal: Principal) -> Channel:
    """The channel `name` if the caller may read it; NotFound otherwise (blocking)."""
    channel = catalog.get_channel(name)
    if channel is None or not principal.can_read(channel):
        raise _missing(name)
    return channel


def channel_for(catalog: Catalog, name: str, principal: Principal, scope: Scope) -> Channel:
    """The channel `name` if the caller has `scope` on it (blocking).

    For `write`/`admin`: credentials are checked before the channel is looked up, so an
    anonymous caller cannot probe which channels exist.
    """
    if scope == "read":
        return readable_channel(catalog, name, principal)
    require_credentials(principal, f"{'uploading to' if scope == 'write' else 'managing'} {name}")
    channel = readable_channel(catalog, name, principal)
    if not principal.can(scope, channel):
        raise Forbidden(f"the token has no {scope} scope on channel {name!r}")
    return channel


def require_server_scope(principal: Principal, scope: Scope, action: str) -> None:
    """A server-wide scope (e.g. admin to create channels or tokens)."""
    require_credentials(principal, action)
    if not principal.can(scope, None):
        raise Forbidden(f"{action} needs a server-wide token with {scope} scope")
