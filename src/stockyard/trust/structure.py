"""Shape checks of root and key_mgr documents, one readable problem per defect.

They mirror what CCT's `checkformat_delegating_metadata` refuses (so a document we accept, CCT
accepts), and add what it leaves out: thresholds that cannot be met.
"""

from __future__ import annotations

from typing import Any

from stockyard.trust.canonical import parse_utc
from stockyard.trust.keys import is_hex_key
from stockyard.trust.metadata import DELEGATED_ROLES

_REQUIRED = ("type", "version", "metadata_spec_version", "timestamp", "expiration", "delegations")


def structure_problems(document: Any, kind: str) -> list[str]:
    """What is wrong with `document` as `kind` (root or key_mgr) metadata; [] when sound."""
    if not isinstance(document, dict) or set(document) != {"signatures", "signed"}:
        return ['not a signed envelope (exactly "signatures" and "signed" expected)']
    if not isinstance(document["signatures"], dict):
        return ['"signatures" is not an object']
    signed = document["signed"]
    if not isinstance(signed, dict):
        return ['"signed" is not an object']
    missing = [name for name in _REQUIRED if name not in signed]
    if missing:
        return [f"missing {', '.join(missing)}"]
    problems: list[str] = []
    if signed["type"] != kind:
        problems.append(f"type is {signed['type']!r}, expected {kind!r}")
    version = signed["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"version {version!r} is not an integer >= 1")
    for name in ("timestamp", "expiration"):
        if parse_utc(signed[name]) is None:
            problems.append(f"{name} {signed[name]!r} is not a UTC time like 2030-01-31T00:00:00Z")
    if not isinstance(signed["metadata_spec_version"], str):
        problems.append("metadata_spec_version is not a string")
    problems += _delegation_problems(signed["delegations"], kind)
    return problems


def _delegation_problems(delegations: Any, kind: str) -> list[str]:
    if not isinstance(delegations, dict):
        return ["delegations is not an object"]
    problems: list[str] = []
    for role in DELEGATED_ROLES.get(kind, ()):
        entry = delegations.get(role)
        if entry is None:
            problems.append(f"no delegation to {role!r}")
            continue
        if not isinstance(entry, dict) or set(entry) != {"pubkeys", "threshold"}:
            problems.append(f"delegation to {role!r} must hold exactly pubkeys and threshold")
            continue
        keys, threshold = entry["pubkeys"], entry["threshold"]
        if not isinstance(keys, list) or not all(is_hex_key(key) for key in keys):
            problems.append(f"delegation to {role!r}: pubkeys must be 64-digit lower-case hex")
        elif len(set(keys)) != len(keys):
            problems.append(f"delegation to {role!r} lists a key twice")
        elif not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
            problems.append(f"delegation to {role!r}: threshold {threshold!r} is not >= 1")
        elif threshold > len(keys):
            problems.append(
                f"delegation to {role!r}: threshold {threshold} but only {len(keys)} keys"
            )
    return problems
