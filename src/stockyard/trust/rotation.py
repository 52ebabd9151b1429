"""Rotations: a new root version (new root or key_mgr keys, or a later expiration), a new
pkg_mgr key with an overlap window, and the end of that window.

Root N+1 is signed by a threshold of root N's keys and by its own keys (CCT's `verify_root`
checks both). A pkg_mgr rotation re-issues key_mgr.json listing the new and the old pkg_mgr key,
so repodata that clients cached (signed by the old key) still verifies, and pre-signs the
key_mgr.json that lists only the new key; `activate_pending` publishes it once the window ends,
without the offline key_mgr key.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from stockyard.trust.canonical import days_from_now, now_utc, parse_utc, utc_text
from stockyard.trust.ceremony import (
    DEFAULT_OVERLAP_DAYS,
    CeremonyResult,
    check_keys_dir,
    current_key_mgr,
    key_mgr_signed,
    new_online_key,
    signing_keys,
    sound_document,
    write_document,
)
from stockyard.trust.errors import TrustError
from stockyard.trust.keys import SigningKey, generate_key
from stockyard.trust.keystore import load_offline_keys, write_offline_key
from stockyard.trust.layout import TrustLayout, write_atomic
from stockyard.trust.metadata import (
    KEY_MGR,
    ROOT,
    Delegation,
    build_signed,
    document_bytes,
    sign_envelope,
)


def rotate_root(
    channel_dir: Path,
    keys_dir: Path,
    *,
    new_root_keys: int | None = 1,
    root_threshold: int = 1,
    new_key_mgr_key: bool = False,
    root_days: float | None = None,
    now: datetime | None = None,
) -> CeremonyResult:
    """Write `N+1.root.json`. `new_root_keys=None` keeps the root keys (e.g. only to extend the
    expiration); `new_key_mgr_key` also replaces the key_mgr key (and re-signs key_mgr.json)."""
    layout = TrustLayout(channel_dir)
    check_keys_dir(layout, keys_dir)
    version, old = layout.latest_root()
    old = sound_document(layout, old, ROOT, layout.root_path(version))
    available = load_offline_keys(keys_dir)
    old_signers = signing_keys(available, Delegation.of(old, ROOT), ROOT)
    result = CeremonyResult(root_version=version + 1)
    if new_root_keys is None:
        new_roots, root_delegation = old_signers, Delegation.of(old, ROOT)
    else:
        if not 1 <= root_threshold <= new_root_keys:
            raise TrustError(f"root threshold {root_threshold} must be 1..{new_root_keys}")
        new_roots = [generate_key() for _ in range(new_root_keys)]
        result.offline_keys += [write_offline_key(key, keys_dir, ROOT) for key in new_roots]
        root_delegation = Delegation(tuple(k.public_hex for k in new_roots), root_threshold)
    key_mgr_delegation = Delegation.of(old, KEY_MGR)
    new_key_mgr: SigningKey | None = None
    if new_key_mgr_key:
        new_key_mgr = generate_key()
        result.offline_keys.append(write_offline_key(new_key_mgr, keys_dir, KEY_MGR))
        key_mgr_delegation = Delegation((new_key_mgr.public_hex,), 1)
    moment = now or now_utc()
    expiration = days_from_now(root_days, moment) if root_days else old["signed"]["expiration"]
    signed = build_signed(
        ROOT,
        version + 1,
        {ROOT: root_delegation, KEY_MGR: key_mgr_delegation},
        timestamp=utc_text(moment),
        expiration=expiration,
    )
    signers = {key.public_hex: key for key in [*old_signers, *new_roots]}
    envelope = sign_envelope(signed, signers.values())
    result.written.append(write_document(layout, layout.root_path(version + 1), envelope))
    if new_key_mgr is not None:
        result.written += _resign_key_mgr(layout, new_key_mgr, moment)
    return result


def _resign_key_mgr(layout: TrustLayout, key: SigningKey, moment: datetime) -> list[Path]:
    """key_mgr.json (and a pending one) again, one version up, signed by the new key_mgr key."""
    written: list[Path] = []
    for path in (layout.key_mgr_path, layout.pending_key_mgr_path):
        if not path.is_file():
            continue
        signed = dict(layout.read_json(path)["signed"])
        signed["version"] = int(signed["version"]) + 1
        if path == layout.key_mgr_path:
            signed["timestamp"] = utc_text(moment)
        written.append(write_document(layout, path, sign_envelope(signed, [key])))
    return written


def rotate_pkg_mgr(
    channel_dir: Path,
    keys_dir: Path,
    passphrase: bytes,
    *,
    overlap_days: float = DEFAULT_OVERLAP_DAYS,
    key_mgr_days: float | None = None,
    now: datetime | None = None,
) -> CeremonyResult:
    """A new online pkg_mgr key; key_mgr.json lists old and new keys until the overlap ends
    (`overlap_days=0`: only the new key at once, for a compromised key)."""
    layout = TrustLayout(channel_dir)
    check_keys_dir(layout, keys_dir)
    config = layout.load_config()
    key_mgr_doc, delegation = current_key_mgr(layout)
    signers = signing_keys(load_offline_keys(keys_dir), delegation, KEY_MGR)
    moment = now or now_utc()
    signed = key_mgr_doc["signed"]
    expiration = days_from_now(key_mgr_days, moment) if key_mgr_days else signed["expiration"]
    version = int(signed["version"])
    online, key_file = new_online_key(layout, passphrase)
    result = CeremonyResult(pkg_mgr_key=online.public_hex, key_mgr_version=version + 1)
    keys: tuple[str, ...] = (online.public_hex,)
    if overlap_days > 0 and config.signing_key != online.public_hex:
        keys = (online.public_hex, config.signing_key)
        ends = days_from_now(overlap_days, moment)
        pending = key_mgr_signed(version + 2, (online.public_hex,), ends, expiration)
        write_atomic(layout.pending_key_mgr_path, document_bytes(sign_envelope(pending, signers)))
        config.pending_key_mgr_after = ends
    else:
        layout.pending_key_mgr_path.unlink(missing_ok=True)
        config.pending_key_mgr_after = None
    current = key_mgr_signed(version + 1, keys, utc_text(moment), expiration)
    result.written.append(
        write_document(layout, layout.key_mgr_path, sign_envelope(current, signers))
    )
    old_file = layout.state_dir / config.key_file
    config.signing_key, config.key_file = online.public_hex, key_file
    layout.save_config(config)
    if old_file.name != key_file:
        old_file.unlink(missing_ok=True)  # no longer used: less key material online
    return result


def activate_pending(channel_dir: Path, now: datetime | None = None) -> bool:
    """Publish the pre-signed key_mgr.json once its overlap window has ended; True if done."""
    layout = TrustLayout(channel_dir)
    if not layout.config_path.is_file():
        return False
    config = layout.load_config()
    after = parse_utc(config.pending_key_mgr_after)
    if after is None or (now or now_utc()) < after:
        return False
    pending = layout.pending_key_mgr_path
    if pending.is_file():
        write_atomic(layout.key_mgr_path, pending.read_bytes())
        pending.unlink()
    config.pending_key_mgr_after = None
    layout.save_config(config)
    return True


def renew_key_mgr(
    channel_dir: Path, keys_dir: Path, *, key_mgr_days: float, now: datetime | None = None
) -> CeremonyResult:
    """key_mgr.json one version up with a later expiration, same pkg_mgr keys."""
    layout = TrustLayout(channel_dir)
    check_keys_dir(layout, keys_dir)
    document, delegation = current_key_mgr(layout)
    signers = signing_keys(load_offline_keys(keys_dir), delegation, KEY_MGR)
    moment = now or now_utc()
    signed: dict[str, Any] = dict(document["signed"])
    signed.update(
        version=int(signed["version"]) + 1,
        timestamp=utc_text(moment),
        expiration=days_from_now(key_mgr_days, moment),
    )
    envelope = sign_envelope(signed, signers)
    result = CeremonyResult(key_mgr_version=signed["version"])
    result.written.append(write_document(layout, layout.key_mgr_path, envelope))
    if layout.pending_key_mgr_path.is_file():  # in an overlap window: renew its end too
        pending = dict(layout.read_json(layout.pending_key_mgr_path)["signed"])
        pending.update(version=signed["version"] + 1, expiration=signed["expiration"])
        path = layout.pending_key_mgr_path
        result.written.append(write_document(layout, path, sign_envelope(pending, signers)))
    return result
