"""Header and path parsing: exact cases, and properties over arbitrary input (Hypothesis)."""

from __future__ import annotations

import base64
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockyard.server.auth import presented_token
from stockyard.server.channel_files import file_key
from stockyard.server.http_files import (
    accepts_gzip,
    cache_control,
    etag_for,
    gzip_etag,
    if_none_match_hits,
    if_range_matches,
    not_modified_since,
    parse_range,
)
from stockyard.types.errors import NotFound


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=90-", 100, (90, 100)),
        ("bytes=-10", 100, (90, 100)),
        ("bytes=-1000", 100, (0, 100)),
        ("bytes=0-1000", 100, (0, 100)),
        ("bytes=100-", 100, False),
        ("bytes=-0", 100, False),
        ("bytes=0-0", 0, False),
        ("bytes=5-3", 100, None),
        ("bytes=0-1,3-4", 100, None),
        ("bytes=", 100, None),
        ("pages=0-1", 100, None),
        (" BYTES = 1 - 2 ", 100, (1, 3)),
    ],
)
def test_parse_range(header: str, size: int, expected) -> None:  # type: ignore[no-untyped-def]
    assert parse_range(header, size) == expected


@given(st.text(max_size=60), st.integers(min_value=0, max_value=10**12))
def test_parse_range_is_total_and_in_bounds(header: str, size: int) -> None:
    result = parse_range(header, size)
    if isinstance(result, tuple):
        start, end = result
        assert 0 <= start < end <= size


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, identity", False),
        ("*", True),
        ("identity", False),
        ("", False),
        (None, False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accepts_gzip(header, ok: bool) -> None:  # type: ignore[no-untyped-def]
    assert accepts_gzip(header) is ok


@given(st.text(max_size=80))
def test_accepts_gzip_never_raises(header: str) -> None:
    assert accepts_gzip(header) in {True, False}


def test_validators() -> None:
    etag = etag_for("noarch/repodata.json", 10, 123)
    assert if_none_match_hits(etag, etag)
    assert if_none_match_hits(f'"a", W/{etag}', etag)
    assert not if_none_match_hits(gzip_etag(etag), etag)
    assert if_range_matches(etag, etag, "date")
    assert not if_range_matches("W/" + etag, etag, "date")
    assert if_range_matches("date", etag, "date")
    shard = "noarch/shards/" + "ab" * 32 + ".msgpack.zst"
    assert etag_for(shard, 1, 2) == '"' + "ab" * 32 + '"'
    assert not_modified_since("Thu, 01 Jan 2099 00:00:00 GMT", 5 * 10**18 // 10**9)
    assert not not_modified_since("not a date", 0)
    assert not not_modified_since("Thu, 01 Jan 1970 00:00:00", 10**12)  # no zone: ignored


def test_cache_control_kinds() -> None:
    assert cache_control("noarch/repodata.json", max_age=60, private=False) == (
        "public, max-age=60"
    )
    assert cache_control("noarch/repodata_shards.msgpack.zst", max_age=5, private=True) == (
        "private, max-age=5"
    )
    immutable = "public, max-age=31536000, immutable"
    assert cache_control("icons/" + "0" * 64 + ".png", max_age=60, private=False) == immutable
    for key in ("noarch/a-1-0.conda", "linux-64/a-1-0.tar.bz2"):
        assert cache_control(key, max_age=60, private=False) == (
            "public, max-age=60, must-revalidate"
        )
        assert cache_control(key, max_age=5, private=True) == "private, max-age=5, must-revalidate"
    shard = "noarch/shards/" + "0" * 64 + ".msgpack.zst"
    assert cache_control(shard, max_age=60, private=False) == immutable


@given(st.text(max_size=120))
def test_file_key_never_escapes(path: str) -> None:
    try:
        key = file_key(path)
    except NotFound:
        return
    parts = PurePosixPath(key).parts
    assert not PurePosixPath(key).is_absolute()
    assert ".." not in parts and all(not p.startswith(".") for p in parts)
    assert "\0" not in key and "\\" not in key


def test_presented_token_forms() -> None:
    basic = base64.b64encode(b"user:sy-pass").decode()
    assert presented_token({}, "sy-url") == "sy-url"
    assert presented_token({"x-api-key": "sy-key", "authorization": "Bearer x"}) == "sy-key"
    assert presented_token({"authorization": "Bearer sy-b"}) == "sy-b"
    assert presented_token({"authorization": "token sy-t"}) == "sy-t"
    assert presented_token({"authorization": f"Basic {basic}"}) == "sy-pass"
    user_only = base64.b64encode(b"sy-user:").decode()
    assert presented_token({"authorization": f"Basic {user_only}"}) == "sy-user"
    assert presented_token({"authorization": "Basic !!!"}) is None
    assert presented_token({"authorization": "Digest abc"}) is None
    assert presented_token({}) is None


@given(st.dictionaries(st.sampled_from(["x-api-key", "authorization"]), st.text(max_size=60)))
def test_presented_token_never_raises(headers: dict[str, str]) -> None:
    token = presented_token(headers)
    assert token is None or isinstance(token, str)
