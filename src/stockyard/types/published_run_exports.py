"""Which `run_exports` an artifact publishes in shards (CEP 21) and run_exports.json (CEP 12).

The artifact's `info/run_exports.json` (the catalog's `run_exports` column), unless patch
instructions changed the record's `run_exports` (CEP 12 and 21 describe the record's
run_exports; repodata.json publishes the patched record): then the patched value, so that
repodata.json, the shards and run_exports.json agree. A patch that deletes `run_exports`
(`"run_exports": null`) publishes `{}`. Only patched records are decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from stockyard.types.encoding import encode_json

_KEY = "run_exports"
_decode = msgspec.json.Decoder().decode


def _dictionary_form(value: Any) -> Any:
    """The CEP 34 dictionary form: a list means weak exports; `null` and junk mean none."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"weak": value}
    return {}


def patched_run_exports(record: bytes, patched: Mapping[str, Any], column: bytes | None) -> Any:
    """The decoded run_exports of an artifact whose record a patch changed to `patched`."""
    if _KEY in patched:
        return _dictionary_form(patched[_KEY])
    if _KEY.encode() in record and _KEY in _decode(record):
        return {}  # the patch deleted it
    return _decode(column) if column is not None else {}


def patched_run_exports_bytes(record: bytes, patch: bytes, column: bytes | None) -> bytes | None:
    """Like `patched_run_exports`, encoded; `column` itself when the patch left them alone."""
    patched = _decode(patch)
    if _KEY not in patched and _KEY.encode() not in record:
        return column
    return encode_json(patched_run_exports(record, patched, column))


def published_run_exports(
    record: bytes, patched: bytes | None, column: bytes | None
) -> dict[str, Any]:
    """The run_exports the channel publishes for an artifact, decoded (for the API and UI)."""
    if patched is None:
        value = _decode(column) if column is not None else {}
    else:
        value = patched_run_exports(record, _decode(patched), column)
    return value if isinstance(value, dict) else {}
