"""CCT's canonical bytes: the fast path equals the json module's on anything JSON can hold."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stockyard.trust.canonical import (
    canonical_bytes,
    canonical_record_bytes,
    parse_utc,
    utc_text,
)
from stockyard.types.encoding import encode_json

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["1.2.3", "a:1.5", "x [1e5]", "py37h\x7f", "é", "\\", "\n"])
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(), _json, max_size=6))
def test_fast_path_equals_json_module(record: dict[str, Any]) -> None:
    text = json.dumps(record).encode()  # any producer's spelling
    assert canonical_record_bytes(text) == canonical_bytes(json.loads(text))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), _json, max_size=6))
def test_fast_path_on_our_published_bytes(record: dict[str, Any]) -> None:
    try:
        text = encode_json(record)
    except (OverflowError, TypeError):
        return  # ints msgspec cannot write never reach a published file
    assert canonical_record_bytes(text) == canonical_bytes(json.loads(text))


def test_real_records(r_records: dict[str, Any]) -> None:
    for record in r_records.values():
        text = encode_json(record)
        assert canonical_record_bytes(text) == canonical_bytes(json.loads(text))


def test_canonical_form_is_cct_s() -> None:
    assert canonical_bytes({"b": [1], "a": "é"}) == b'{\n  "a": "\\u00e9",\n  "b": [\n    1\n  ]\n}'


def test_timestamps_round_trip() -> None:
    moment = parse_utc("2030-01-31T12:00:00Z")
    assert moment is not None and utc_text(moment) == "2030-01-31T12:00:00Z"
    assert parse_utc("2030-01-31T12:00:00+00:00") is None
    assert parse_utc("2030-02-31T12:00:00Z") is None
    assert parse_utc(20300131) is None
