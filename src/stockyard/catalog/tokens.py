"""API tokens on top of the `tokens` table: create, look up, list, revoke (`TokensPart`).

A token is `sy-` + 40 characters of `[A-Za-z0-9]` (about 238 random bits). conda reads the token
of a `/t/<token>/` URL with the character set `[A-Za-z0-9-]`, so no `_` or other symbol may
appear. Only the sha256 of a token is stored; the token is returned once, at creation. Every
lookup reads the table, so a revocation or an expiry takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sqlalchemy import Select, select, update

from stockyard.catalog.base import CatalogPart, now_ms
from stockyard.catalog.rows import Channel
from stockyard.catalog.schema import channels, tokens
from stockyard.types.errors import Conflict, InvalidIdentifier, NotFound

Scope = Literal["read", "write", "admin"]
SCOPES: Final[tuple[Scope, ...]] = get_args(Scope)
_RANK: Final = {scope: rank for rank, scope in enumerate(SCOPES, start=1)}

TOKEN_PREFIX: Final = "sy-"
TOKEN_RANDOM_LENGTH: Final = 40
_ALPHABET: Final = string.ascii_letters + string.digits
#: Characters of the token kept in clear text to tell tokens apart in listings.
DISPLAY_PREFIX_LENGTH: Final = len(TOKEN_PREFIX) + 8
#: Anything a client may send as a token: conda's `/t/<token>/` character set.
TOKEN_PATTERN: Final = r"^[A-Za-z0-9-]{8,256}$"
_token_re = re.compile(TOKEN_PATTERN)
#: The longest lifetime a token may be given (seconds): 100 years.
MAX_LIFETIME: Final = 100 * 366 * 86400
#: last_used_at is refreshed at most this often (ms), so reads do not write on every request.
_LAST_USED_RESOLUTION_MS: Final = 60_000


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as stored (never the token itself)."""

    id: int
    prefix: str
    scope: Scope
    #: None: the token is valid for every channel.
    channel_id: int | None
    channel_name: str | None
    description: str | None
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None

    def status(self, now: int | None = None) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (
            now if now is not None else now_ms()
        ):
            return "expired"
        return "active"

    def allows(self, scope: Scope, channel_id: int | None) -> bool:
        """Whether this token grants `scope` on the channel `channel_id` (None: server-wide)."""
        if self.channel_id is not None and self.channel_id != channel_id:
            return False
        return _RANK[self.scope] >= _RANK[scope]


@dataclass(frozen=True, slots=True)
class NewToken:
    token: str
    info: TokenInfo


def check_scope(scope: str) -> Scope:
    for known in SCOPES:
        if scope == known:
            return known
    raise InvalidIdentifier(
        f"unknown token scope {scope!r}", hint=f"Use one of: {', '.join(SCOPES)}."
    )


def generate_token() -> str:
    return TOKEN_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_RANDOM_LENGTH))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_token_shaped(value: str) -> bool:
    return bool(_token_re.fullmatch(value))


_COLUMNS = (
    tokens.c.id,
    tokens.c.prefix,
    tokens.c.scope,
    tokens.c.channel_id,
    channels.c.name,
    tokens.c.description,
    tokens.c.created_at,
    tokens.c.expires_at,
    tokens.c.revoked_at,
    tokens.c.last_used_at,
)


def _select() -> Select[Any]:
    return select(*_COLUMNS).select_from(
        tokens.outerjoin(channels, tokens.c.channel_id == channels.c.id)
    )


def _info(row: Any) -> TokenInfo:
    return TokenInfo(*row)


class TokensPart(CatalogPart):
    def create_token(
        self,
        *,
        scope: str,
        channel: Channel | None = None,
        expires_in: float | None = None,
        description: str | None = None,
    ) -> NewToken:
        """A new random token with `scope` on `channel` (None: every channel), valid for
        `expires_in` seconds (None: until revoked)."""
        checked = check_scope(scope)
        if description is not None and len(description) > 256:
            raise InvalidIdentifier("token description is longer than 256 characters")
        if expires_in is not None and not 0 < expires_in <= MAX_LIFETIME:
            raise InvalidIdentifier(
                f"token lifetime {expires_in!r} s is out of range",
                hint="Give a lifetime between 1 second and 100 years, e.g. 30d.",
            )
        token = generate_token()
        created = now_ms()
        expires = created + int(expires_in * 1000) if expires_in is not None else None
        with self.engine.begin() as conn:
            result = conn.execute(
                tokens.insert().values(
                    token_hash=hash_token(token),
                    prefix=token[:DISPLAY_PREFIX_LENGTH],
                    channel_id=channel.id if channel is not None else None,
                    scope=checked,
                    description=description,
                    created_at=created,
                    expires_at=expires,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            token_id = int(key[0])
        info = TokenInfo(
            id=token_id,
            prefix=token[:DISPLAY_PREFIX_LENGTH],
            scope=checked,
            channel_id=channel.id if channel is not None else None,
            channel_name=channel.name if channel is not None else None,
            description=description,
            created_at=created,
            expires_at=expires,
            revoked_at=None,
            last_used_at=None,
        )
        return NewToken(token, info)

    def find_token(self, token: str) -> TokenInfo | None:
        """The stored token `token` is, in any state (active, expired, revoked); None if
        unknown."""
        if not is_token_shaped(token):
            return None
        with self.reader.connect() as conn:
            row = conn.execute(_select().where(tokens.c.token_hash == hash_token(token))).first()
        return _info(row) if row else None

    def authenticate_token(self, token: str) -> TokenInfo | None:
        """The active token `token` is, or None (unknown, expired or revoked)."""
        info = self.find_token(token)
        now = now_ms()
        if info is None or info.status(now) != "active":
            return None
        if info.last_used_at is None or now - info.last_used_at >= _LAST_USED_RESOLUTION_MS:
            with self.engine.begin() as conn:
                conn.execute(update(tokens).where(tokens.c.id == info.id).values(last_used_at=now))
        return info

    def list_tokens(self, *, channel_id: int | None = None) -> list[TokenInfo]:
        query = _select().order_by(tokens.c.id)
        if channel_id is not None:
            query = query.where(tokens.c.channel_id == channel_id)
        with self.reader.connect() as conn:
            return [_info(row) for row in conn.execute(query)]

    def resolve_token(self, ref: str) -> TokenInfo:
        """A token named by its id, its display prefix (or a unique start of it), or the
        token."""
        ref = ref.strip()
        query = _select()
        with self.reader.connect() as conn:
            if ref.isdigit() and len(ref) < 18:
                rows = conn.execute(query.where(tokens.c.id == int(ref))).all()
            else:
                rows = conn.execute(query.where(tokens.c.token_hash == hash_token(ref))).all()
                if not rows and ref:
                    prefix = ref[:DISPLAY_PREFIX_LENGTH]
                    rows = conn.execute(
                        query.where(tokens.c.prefix.startswith(prefix, autoescape=True))
                    ).all()
                    if len(ref) > DISPLAY_PREFIX_LENGTH:
                        rows = []  # longer than a prefix but not a known token
        if not rows:
            raise NotFound(
                f"no token matches {ref[:DISPLAY_PREFIX_LENGTH]!r}",
                hint="See `stockyard token list`.",
            )
        if len(rows) > 1:
            raise Conflict(
                f"{ref!r} matches {len(rows)} tokens",
                hint="Pass the token id or a longer prefix (see `stockyard token list`).",
            )
        return _info(rows[0])

    def revoke_token(self, ref: str) -> TokenInfo:
        """Revoke the token named by `ref` (see `resolve_token`); effective on the next
        request."""
        info = self.resolve_token(ref)
        if info.revoked_at is not None:
            return info
        stamp = now_ms()
        with self.engine.begin() as conn:
            conn.execute(
                update(tokens)
                .where(tokens.c.id == info.id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=stamp)
            )
        return self.resolve_token(str(info.id))

    def delete_token(self, ref: str) -> TokenInfo:
        """Delete the token named by `ref` for good (its row goes; listings forget it)."""
        info = self.resolve_token(ref)
        with self.engine.begin() as conn:
            conn.execute(tokens.delete().where(tokens.c.id == info.id))
        return info


__all__ = [
    "SCOPES",
    "TOKEN_PATTERN",
    "NewToken",
    "Scope",
    "TokenInfo",
    "TokensPart",
    "check_scope",
    "generate_token",
    "hash_token",
    "is_token_shaped",
]
