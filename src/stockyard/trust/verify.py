"""Our own verifier: the root chain, key_mgr, and every record signature, expirations checked.

Unlike conda (which ignores `expiration` and only warns), this fails on: a root version that does
not verify against its predecessor (threshold of the old root keys and of its own), a version
that is skipped, expired root or key_mgr metadata, a key_mgr not signed by the keys root
delegates to, a record without a good signature by a pkg_mgr key key_mgr delegates to.

Trust starts from `trusted_root` (the root the user installed, e.g. in conda's
`$CONDA_PREFIX/etc/conda/1.root.json`), else from the source's own `1.root.json` (trust on
first use: said in the report's notes). As in TUF, intermediate roots may have expired; the
newest may not.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from stockyard.trust.canonical import decode_json, now_utc, parse_utc
from stockyard.trust.fetch import Source, open_source
from stockyard.trust.metadata import (
    KEY_MGR,
    KEY_MGR_FILE,
    PKG_MGR,
    ROOT,
    Delegation,
    good_signers,
    root_filename,
)
from stockyard.trust.report import VerifyReport
from stockyard.trust.structure import structure_problems
from stockyard.trust.verify_records import verify_subdir


def verify_channel(
    location: str | Path,
    *,
    trusted_root: dict[str, Any] | None = None,
    signing_base: str | Path | None = None,
    subdirs: list[str] | None = None,
    now: datetime | None = None,
) -> VerifyReport:
    """Verify a channel directory or URL; metadata is read from `signing_base` (default: the
    channel itself)."""
    source = open_source(location)
    metadata = open_source(signing_base) if signing_base else source
    report = VerifyReport(source=str(location))
    moment = now or now_utc()
    root = _root_chain(metadata, trusted_root, report, moment)
    key_mgr = _key_mgr(metadata, root, report, moment) if root is not None else None
    if key_mgr is None:
        report.notes.append("record signatures not checked: no trusted key_mgr")
        return report
    pkg_mgr = Delegation.of(key_mgr, PKG_MGR)
    report.pkg_mgr_keys = list(pkg_mgr.pubkeys)
    if not subdirs:
        subdirs = source.subdirs()
        report.notes.append(f"subdirs checked: {', '.join(subdirs)} (choose with --subdir)")
    for subdir in subdirs:
        report.verified[subdir] = verify_subdir(source, subdir, pkg_mgr, report)
    return report


def _load(source: Source, name: str, report: VerifyReport) -> Any | None:
    """The decoded document; None (and a problem) when missing or not JSON."""
    data = source.get(name)
    if data is None:
        report.add(source.where(name), "missing")
        return None
    try:
        return decode_json(data)
    except ValueError as exc:
        report.add(source.where(name), f"not JSON: {exc}")
        return None


def _sound(document: Any, kind: str, where: str, report: VerifyReport) -> bool:
    problems = structure_problems(document, kind)
    for problem in problems:
        report.add(where, problem)
    return not problems


def _signed_by(
    document: dict[str, Any], delegation: Delegation, by: str, where: str, report: VerifyReport
) -> bool:
    """Whether a threshold of `delegation`'s keys signed `document`; a problem when not."""
    good = good_signers(document, delegation)
    if len(good) >= delegation.threshold:
        return True
    signers = ", ".join(key[:16] for key in document["signatures"]) or "nobody"
    expected = ", ".join(key[:16] for key in delegation.pubkeys)
    report.add(
        where,
        f"{len(good)} good signature(s) from the keys {by} delegates to, "
        f"{delegation.threshold} needed (signed by: {signers}; expected keys: {expected})",
    )
    return False


def _not_expired(document: dict[str, Any], where: str, report: VerifyReport, now: datetime) -> bool:
    expires = parse_utc(document["signed"]["expiration"])
    if expires is not None and expires <= now:
        report.add(where, f"expired at {document['signed']['expiration']}")
        return False
    return True


def _starting_root(
    source: Source, trusted: dict[str, Any] | None, report: VerifyReport
) -> dict[str, Any] | None:
    where = "trusted root (--root)"
    if trusted is None:
        where = source.where(root_filename(1))
        trusted = _load(source, root_filename(1), report)
        report.notes.append(f"trust on first use of {where}; pin a root with --root")
    if trusted is None or not _sound(trusted, ROOT, where, report):
        return None
    if not _signed_by(trusted, Delegation.of(trusted, ROOT), "itself", where, report):
        return None
    return trusted


def _root_chain(
    source: Source, trusted: dict[str, Any] | None, report: VerifyReport, now: datetime
) -> dict[str, Any] | None:
    """The newest root reachable by verified single steps from the starting one."""
    root = _starting_root(source, trusted, report)
    if root is None:
        return None
    while True:
        version = root["signed"]["version"]
        name = root_filename(version + 1)
        data = source.get(name)
        if data is None:
            _no_skipped_versions(source, version, report)
            break
        following = _next_root(root, data, source.where(name), report)
        if following is None:
            return None
        root = following
    where = source.where(root_filename(root["signed"]["version"]))
    report.root_version = root["signed"]["version"]
    report.root_expires = root["signed"]["expiration"]
    return root if _not_expired(root, where, report, now) else None


def _no_skipped_versions(source: Source, version: int, report: VerifyReport) -> None:
    for later in (version + 2, version + 3):
        if source.get(root_filename(later)) is not None:
            report.add(
                source.where(root_filename(later)),
                f"root version {later} exists but {version + 1} does not: versions must not skip",
            )
            return


def _next_root(
    root: dict[str, Any], data: bytes, where: str, report: VerifyReport
) -> dict[str, Any] | None:
    """`data` as root version N+1 verified by root N (and by itself); None on any problem."""
    try:
        candidate = decode_json(data)
    except ValueError as exc:
        report.add(where, f"not JSON: {exc}")
        return None
    if not _sound(candidate, ROOT, where, report):
        return None
    expected = root["signed"]["version"] + 1
    if candidate["signed"]["version"] != expected:
        report.add(where, f"says version {candidate['signed']['version']}, expected {expected}")
        return None
    by_old = _signed_by(candidate, Delegation.of(root, ROOT), f"root {expected - 1}", where, report)
    by_new = _signed_by(candidate, Delegation.of(candidate, ROOT), "itself", where, report)
    return candidate if by_old and by_new else None


def _key_mgr(
    source: Source, root: dict[str, Any], report: VerifyReport, now: datetime
) -> dict[str, Any] | None:
    where = source.where(KEY_MGR_FILE)
    document = _load(source, KEY_MGR_FILE, report)
    if document is None or not _sound(document, KEY_MGR, where, report):
        return None
    report.key_mgr_version = document["signed"]["version"]
    report.key_mgr_expires = document["signed"]["expiration"]
    by = f"root {root['signed']['version']}"
    if not _signed_by(document, Delegation.of(root, KEY_MGR), by, where, report):
        return None
    if not _not_expired(document, where, report, now):
        return None
    result: dict[str, Any] = document
    return result
