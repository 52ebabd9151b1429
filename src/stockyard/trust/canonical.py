"""CCT's byte format: what is signed, and its timestamps.

CCT signs `json.dumps(obj, indent=2, sort_keys=True)` encoded as UTF-8 (with the json module's
defaults otherwise: ASCII escapes, `", "` / `": "` separators). Every signature we make or check
is over exactly these bytes of the object a client decodes with Python's `json` module, so we
decode records with `json` too (not msgspec: their number and string edge cases may differ).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

#: CCT's metadata specification version (conda_content_trust.common).
METADATA_SPEC_VERSION = "0.6.0"

#: CCT accepts only this UTC form: 2024-01-31T12:00:00Z.
_UTC_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")


def canonical_bytes(obj: Any) -> bytes:
    """The bytes CCT signs for `obj` (its `canonserialize`)."""
    return json.dumps(obj, indent=2, sort_keys=True).encode("utf-8")


#: A JSON number with a fraction or exponent starts right after one of `:,[` in compact JSON.
#: (Inside strings this may match too: then we only take the slow path needlessly.)
_FLOAT_RE = re.compile(rb"[:,\[]-?[0-9]+[.eE]")
#: json's `ensure_ascii` escapes every character outside space..tilde (DEL included).
_NOT_PRINTABLE_ASCII_RE = re.compile(rb"[^\x20-\x7e]")
_sorted_encode = msgspec.json.Encoder(order="sorted").encode
_fast_decode = msgspec.json.Decoder().decode


def canonical_record_bytes(record: bytes) -> bytes:
    """`canonical_bytes(decode_json(record))` for the JSON text of a record, faster.

    The json module's indenting encoder is pure Python; msgspec's sorted compact encoding,
    re-indented by `msgspec.json.format`, gives the same bytes whenever the text is plain:
    printable ASCII only (json escapes the rest), no escape sequences (the two may spell them
    differently) and no floats (their spellings differ, e.g. 1e+16 and 1e16). Anything else
    takes the json module's path; tests compare both on generated documents. (The verifier
    always takes the json module's path, so the two cross-check each other.)
    """
    try:
        compact = _sorted_encode(_fast_decode(record))
    except (msgspec.DecodeError, OverflowError, TypeError):
        compact = b"\\"  # not plain: force the exact path
    plain = not _NOT_PRINTABLE_ASCII_RE.search(compact) and b"\\" not in compact
    if plain and not _FLOAT_RE.search(compact):
        return msgspec.json.format(compact, indent=2)
    return canonical_bytes(decode_json(record))


def decode_json(data: bytes | str) -> Any:
    """Decode as conda does (Python's json module)."""
    return json.loads(data)


def utc_text(moment: datetime) -> str:
    """`moment` in CCT's timestamp form (seconds, UTC, `Z`)."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_utc(text: Any) -> datetime | None:
    """A CCT timestamp as an aware datetime; None when it is not in CCT's form."""
    if not isinstance(text, str) or _UTC_RE.fullmatch(text) is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def days_from_now(days: float, now: datetime | None = None) -> str:
    return utc_text((now or now_utc()) + timedelta(days=days))
