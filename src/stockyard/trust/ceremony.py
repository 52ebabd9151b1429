"""Key ceremonies: set a channel up for signing, rotate root, rotate pkg_mgr.

The offline keys (root, key_mgr) are read from and written to `keys_dir`, which the operator
keeps off the server; only the encrypted pkg_mgr key stays in the channel's trust directory.
Every function writes public metadata atomically and returns what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from stockyard.trust.canonical import days_from_now, now_utc, utc_text
from stockyard.trust.errors import KeyUnavailable, MetadataInvalid, TrustError
from stockyard.trust.keys import SigningKey, generate_key
from stockyard.trust.keystore import write_offline_key, write_online_key
from stockyard.trust.layout import TrustConfig, TrustLayout, write_atomic
from stockyard.trust.metadata import (
    KEY_MGR,
    PKG_MGR,
    ROOT,
    Delegation,
    build_signed,
    document_bytes,
    sign_envelope,
)
from stockyard.trust.structure import structure_problems

DEFAULT_ROOT_DAYS = 365
DEFAULT_KEY_MGR_DAYS = 365
DEFAULT_OVERLAP_DAYS = 7


@dataclass(slots=True)
class CeremonyResult:
    """Files written (public metadata, offline keys) and the keys now in force."""

    written: list[Path] = field(default_factory=list)
    offline_keys: list[Path] = field(default_factory=list)
    pkg_mgr_key: str = ""
    root_version: int = 0
    key_mgr_version: int = 0


def check_keys_dir(layout: TrustLayout, keys_dir: Path) -> None:
    channel, keys = layout.channel_dir.resolve(), keys_dir.resolve()
    if keys == channel or channel in keys.parents:
        raise TrustError(
            f"the offline keys directory {keys_dir} is inside the channel {layout.channel_dir}",
            hint="Keep root and key_mgr keys outside the channel (ideally on offline media).",
        )


def new_online_key(layout: TrustLayout, passphrase: bytes) -> tuple[SigningKey, str]:
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    layout.state_dir.chmod(0o700)  # the encrypted key, its cache and config: nobody else's
    key = generate_key()
    name = f"pkg_mgr-{key.public_hex[:16]}.pem"
    write_online_key(key, layout.state_dir / name, passphrase)
    return key, name


def write_document(layout: TrustLayout, path: Path, envelope: dict[str, Any]) -> Path:
    write_atomic(path, document_bytes(envelope))
    return path


def init_channel(
    channel_dir: Path,
    keys_dir: Path,
    passphrase: bytes,
    *,
    root_keys: int = 1,
    root_threshold: int = 1,
    root_days: float = DEFAULT_ROOT_DAYS,
    key_mgr_days: float = DEFAULT_KEY_MGR_DAYS,
    now: datetime | None = None,
) -> CeremonyResult:
    """Root and key_mgr keys (offline) and metadata, and the online pkg_mgr key."""
    layout = TrustLayout(channel_dir)
    check_keys_dir(layout, keys_dir)
    if layout.is_configured() or layout.root_versions():
        raise TrustError(
            f"{channel_dir} is already set up for signing",
            hint="Use 'stockyard trust rotate-root' or 'rotate-pkg-mgr' to change keys.",
        )
    if not 1 <= root_threshold <= root_keys:
        raise TrustError(f"root threshold {root_threshold} must be between 1 and {root_keys}")
    moment = now or now_utc()
    roots = [generate_key() for _ in range(root_keys)]
    key_mgr = generate_key()
    result = CeremonyResult(root_version=1, key_mgr_version=1)
    result.offline_keys = [write_offline_key(key, keys_dir, ROOT) for key in roots]
    result.offline_keys.append(write_offline_key(key_mgr, keys_dir, KEY_MGR))
    online, key_file = new_online_key(layout, passphrase)
    delegations = {
        ROOT: Delegation(tuple(k.public_hex for k in roots), root_threshold),
        KEY_MGR: Delegation((key_mgr.public_hex,), 1),
    }
    stamp = utc_text(moment)
    root = build_signed(
        ROOT, 1, delegations, timestamp=stamp, expiration=days_from_now(root_days, moment)
    )
    result.written.append(write_document(layout, layout.root_path(1), sign_envelope(root, roots)))
    key_mgr_doc = key_mgr_signed(
        1, (online.public_hex,), stamp, days_from_now(key_mgr_days, moment)
    )
    envelope = sign_envelope(key_mgr_doc, [key_mgr])
    result.written.append(write_document(layout, layout.key_mgr_path, envelope))
    layout.save_config(TrustConfig(signing_key=online.public_hex, key_file=key_file))
    result.pkg_mgr_key = online.public_hex
    return result


def key_mgr_signed(
    version: int, pkg_mgr_keys: tuple[str, ...], timestamp: str, expiration: str
) -> dict[str, Any]:
    return build_signed(
        KEY_MGR,
        version,
        {PKG_MGR: Delegation(pkg_mgr_keys, 1)},
        timestamp=timestamp,
        expiration=expiration,
    )


def sound_document(layout: TrustLayout, document: Any, kind: str, where: Path) -> dict[str, Any]:
    problems = structure_problems(document, kind)
    if problems:
        raise MetadataInvalid(f"{where}: {'; '.join(problems)}")
    result: dict[str, Any] = document
    return result


def signing_keys(
    available: dict[str, SigningKey], delegation: Delegation, role: str
) -> list[SigningKey]:
    """The offline keys of `delegation` found in the keys directory (at least its threshold)."""
    found = [available[key] for key in delegation.pubkeys if key in available]
    if len(found) < delegation.threshold:
        wanted = ", ".join(key[:16] for key in delegation.pubkeys)
        raise KeyUnavailable(
            f"{len(found)} of the {role} keys are in the keys directory, {delegation.threshold}"
            f" needed (keys {wanted})",
            hint=f"Pass --keys-dir with the offline {role} key files ({role}-<keyid>.pem).",
        )
    return found


def current_key_mgr(layout: TrustLayout) -> tuple[dict[str, Any], Delegation]:
    """The channel's current key_mgr document and root's delegation to key_mgr."""
    version, root = layout.latest_root()
    root = sound_document(layout, root, ROOT, layout.root_path(version))
    document = layout.read_json(layout.key_mgr_path)
    return sound_document(layout, document, KEY_MGR, layout.key_mgr_path), Delegation.of(
        root, KEY_MGR
    )
