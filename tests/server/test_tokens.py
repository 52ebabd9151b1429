"""catalog.tokens: creation, lookup, scopes, expiry, revocation by id or prefix."""

from __future__ import annotations

import time

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.catalog.tokens import (
    authenticate_token,
    create_token,
    find_token,
    list_tokens,
    resolve_token,
    revoke_token,
)
from stockyard.types.errors import Conflict, InvalidIdentifier, NotFound


@pytest.fixture
def cat(tmp_path) -> Catalog:
    catalog = Catalog.open(sqlite_url(tmp_path / "c.db"))
    yield catalog
    catalog.close()


def test_scopes_rank_and_channel_binding(cat) -> None:
    one = cat.create_channel("one")
    two = cat.create_channel("two")
    info = create_token(cat, scope="write", channel=one).info
    assert info.allows("read", one.id) and info.allows("write", one.id)
    assert not info.allows("admin", one.id)
    assert not info.allows("read", two.id)
    assert not info.allows("read", None)  # not server-wide
    wide = create_token(cat, scope="read").info
    assert wide.allows("read", one.id) and wide.allows("read", two.id)
    assert not wide.allows("write", one.id)


def test_authenticate_only_active(cat) -> None:
    made = create_token(cat, scope="read")
    assert authenticate_token(cat, made.token).id == made.info.id
    assert authenticate_token(cat, made.token + "x") is None
    assert authenticate_token(cat, "has spaces and _") is None
    short = create_token(cat, scope="read", expires_in=0.001)
    time.sleep(0.01)
    assert authenticate_token(cat, short.token) is None
    assert find_token(cat, short.token).status() == "expired"
    revoke_token(cat, str(made.info.id))
    assert authenticate_token(cat, made.token) is None
    assert find_token(cat, made.token).status() == "revoked"


def test_last_used_is_recorded(cat) -> None:
    made = create_token(cat, scope="read")
    assert find_token(cat, made.token).last_used_at is None
    authenticate_token(cat, made.token)
    assert find_token(cat, made.token).last_used_at is not None


def test_resolve_by_id_prefix_or_token(cat) -> None:
    made = create_token(cat, scope="admin", description="x")
    assert resolve_token(cat, str(made.info.id)).id == made.info.id
    assert resolve_token(cat, made.info.prefix).id == made.info.id
    assert resolve_token(cat, made.token).id == made.info.id
    with pytest.raises(NotFound):
        resolve_token(cat, "999")
    with pytest.raises(NotFound):
        resolve_token(cat, made.token[:-1] + "?")
    create_token(cat, scope="read")
    with pytest.raises(Conflict):
        resolve_token(cat, "sy-")  # matches both


def test_list_and_revoke_twice(cat) -> None:
    a = create_token(cat, scope="read").info
    b = create_token(cat, scope="write").info
    assert [t.id for t in list_tokens(cat)] == [a.id, b.id]
    first = revoke_token(cat, str(a.id)).revoked_at
    assert revoke_token(cat, str(a.id)).revoked_at == first


def test_invalid_scope(cat) -> None:
    with pytest.raises(InvalidIdentifier):
        create_token(cat, scope="owner")
