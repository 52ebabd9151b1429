"""Check the signature of every record of a subdir's repodata.json against the pkg_mgr keys."""

from __future__ import annotations

from typing import Any

from stockyard.trust.canonical import canonical_bytes, decode_json
from stockyard.trust.errors import TrustError
from stockyard.trust.fetch import LocalSource, Source
from stockyard.trust.keys import is_hex_signature, verify_raw
from stockyard.trust.metadata import Delegation
from stockyard.trust.repodata_io import SIGNATURES, read_document
from stockyard.trust.report import MAX_PROBLEMS_PER_FILE, VerifyReport
from stockyard.types.encoding import zstd_decompress

REPODATA = "repodata.json"


def verify_subdir(source: Source, subdir: str, pkg_mgr: Delegation, report: VerifyReport) -> int:
    """How many records of `<subdir>/repodata.json` carry a good signature; problems for the
    others (and for a missing or malformed file or signatures map)."""
    name = f"{subdir}/{REPODATA}"
    where = source.where(name)
    data = source.get(name)
    if data is None:
        report.add(where, "missing")
        return 0
    try:
        document = read_document(data, where)
        signatures = _signatures(document.members.get(SIGNATURES), where)
        records = list(document.records())
    except TrustError as exc:
        report.add(where, exc.message)
        return 0
    good, listed = 0, 0
    for filename, raw in records:
        problem = record_problem(bytes(raw), signatures.get(filename), pkg_mgr)
        if problem is None:
            good += 1
        elif listed < MAX_PROBLEMS_PER_FILE:
            report.add(where, problem, filename)
            listed += 1
    if len(records) - good > listed:
        report.add(where, f"{len(records) - good - listed} more records fail (not listed)")
    if isinstance(source, LocalSource):
        _same_zst(source, name, data, report)
    return good


def _signatures(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        raise TrustError(f'no "{SIGNATURES}" map: this subdir is not signed')
    try:
        signatures = decode_json(bytes(raw))
    except ValueError as exc:
        raise TrustError(f'"{SIGNATURES}" is not JSON: {exc}') from exc
    if not isinstance(signatures, dict):
        raise TrustError(f'"{SIGNATURES}" is not an object keyed by filename')
    return signatures


def record_problem(record: bytes, entry: Any, pkg_mgr: Delegation) -> str | None:
    """Why the record's signature entry does not verify; None when a threshold of pkg_mgr keys
    signed exactly these record contents."""
    if entry is None:
        return "no signature"
    if not isinstance(entry, dict):
        return "signature entry is not an object keyed by public key"
    data = canonical_bytes(decode_json(record))
    good, reasons, strangers = 0, [], []
    for public_hex, signature in entry.items():
        if public_hex not in pkg_mgr.pubkeys:
            strangers.append(str(public_hex)[:16])
        elif not isinstance(signature, dict) or not is_hex_signature(signature.get("signature")):
            reasons.append(f"signature by {public_hex[:16]} is not 128 lower-case hex digits")
        elif verify_raw(public_hex, signature["signature"], data):
            good += 1
        else:
            reasons.append(
                f"signature by {public_hex[:16]} does not match the record "
                "(record changed, or signature forged)"
            )
    if good >= pkg_mgr.threshold:
        return None
    if not reasons and strangers:
        return f"signed only by keys key_mgr.json does not delegate to ({', '.join(strangers)})"
    return "; ".join(reasons) or "no signature by a pkg_mgr key"


def _same_zst(source: Source, name: str, data: bytes, report: VerifyReport) -> None:
    """A client may fetch repodata.json.zst instead: it must hold the same bytes."""
    compressed = source.get(f"{name}.zst")
    if compressed is None:
        return
    try:
        same = zstd_decompress(compressed, len(data) + 1) == data
    except Exception:  # any decompression failure means "not the same"
        same = False
    if not same:
        report.add(source.where(f"{name}.zst"), f"does not hold the same bytes as {name}")
