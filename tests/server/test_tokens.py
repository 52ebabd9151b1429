"""Catalog tokens (TokensPart): creation, lookup, scopes, expiry, revocation by id or prefix."""

from __future__ import annotations

import time

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.types.errors import Conflict, InvalidIdentifier, NotFound


@pytest.fixture
def cat(tmp_path) -> Catalog:
    catalog = Catalog.open(sqlite_url(tmp_path / "c.db"))
    yield catalog
    catalog.close()


def test_scopes_rank_and_channel_binding(cat) -> None:
    one = cat.create_channel("one")
    two = cat.create_channel("two")
    info = cat.create_token(scope="write", channel=one).info
    assert info.allows("read", one.id) and info.allows("write", one.id)
    assert not info.allows("admin", one.id)
    assert not info.allows("read", two.id)
    assert not info.allows("read", None)  # not server-wide
    wide = cat.create_token(scope="read").info
    assert wide.allows("read", one.id) and wide.allows("read", two.id)
    assert not wide.allows("write", one.id)


def test_authenticate_only_active(cat) -> None:
    made = cat.create_token(scope="read")
    assert cat.authenticate_token(made.token).id == made.info.id
    assert cat.authenticate_token(made.token + "x") is None
    assert cat.authenticate_token("has spaces and _") is None
    short = cat.create_token(scope="read", expires_in=0.001)
    time.sleep(0.01)
    assert cat.authenticate_token(short.token) is None
    assert cat.find_token(short.token).status() == "expired"
    cat.revoke_token(str(made.info.id))
    assert cat.authenticate_token(made.token) is None
    assert cat.find_token(made.token).status() == "revoked"


def test_last_used_is_recorded(cat) -> None:
    made = cat.create_token(scope="read")
    assert cat.find_token(made.token).last_used_at is None
    cat.authenticate_token(made.token)
    assert cat.find_token(made.token).last_used_at is not None


def test_resolve_by_id_prefix_or_token(cat) -> None:
    made = cat.create_token(scope="admin", description="x")
    assert cat.resolve_token(str(made.info.id)).id == made.info.id
    assert cat.resolve_token(made.info.prefix).id == made.info.id
    assert cat.resolve_token(made.token).id == made.info.id
    with pytest.raises(NotFound):
        cat.resolve_token("999")
    with pytest.raises(NotFound):
        cat.resolve_token(made.token[:-1] + "?")
    cat.create_token(scope="read")
    with pytest.raises(Conflict):
        cat.resolve_token("sy-")  # matches both


def test_list_and_revoke_twice(cat) -> None:
    a = cat.create_token(scope="read").info
    b = cat.create_token(scope="write").info
    assert [t.id for t in cat.list_tokens()] == [a.id, b.id]
    first = cat.revoke_token(str(a.id)).revoked_at
    assert cat.revoke_token(str(a.id)).revoked_at == first


def test_invalid_scope(cat) -> None:
    with pytest.raises(InvalidIdentifier):
        cat.create_token(scope="owner")
