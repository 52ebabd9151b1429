"""Key ceremonies: init refuses mistakes; root and pkg_mgr rotations keep the chain verifiable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from stockyard.trust.canonical import decode_json, now_utc
from stockyard.trust.ceremony import init_channel
from stockyard.trust.errors import KeyUnavailable, TrustError
from stockyard.trust.layout import TrustLayout
from stockyard.trust.rotation import activate_pending, renew_key_mgr, rotate_pkg_mgr, rotate_root
from stockyard.trust.sign import sign_channel
from stockyard.trust.verify import verify_channel


def _read(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = decode_json(path.read_bytes())
    return result


def _problems(channel: Path, **kwargs: Any) -> list[str]:
    return [str(problem) for problem in verify_channel(channel, **kwargs).problems]


def test_init_refuses_keys_inside_the_channel(channel: Path, passphrase: bytes) -> None:
    with pytest.raises(TrustError, match="inside the channel"):
        init_channel(channel, channel / "keys", passphrase)


def test_init_refuses_twice_and_bad_thresholds(signed: Path, tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="already set up"):
        init_channel(signed, tmp_path / "k", b"x" * 20)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(TrustError, match="threshold"):
        init_channel(other, tmp_path / "k2", b"x" * 20, root_keys=2, root_threshold=3)


def test_metadata_shape_is_cct_s(signed: Path) -> None:
    root = _read(signed / "1.root.json")
    assert set(root) == {"signatures", "signed"}
    assert set(root["signed"]) == {
        "type",
        "version",
        "metadata_spec_version",
        "timestamp",
        "expiration",
        "delegations",
    }
    assert set(root["signed"]["delegations"]) == {"root", "key_mgr"}
    assert all(set(sig) == {"other_headers", "signature"} for sig in root["signatures"].values())
    key_mgr = _read(signed / "key_mgr.json")
    assert key_mgr["signed"]["type"] == "key_mgr"
    assert set(key_mgr["signed"]["delegations"]) == {"pkg_mgr"}
    assert all(set(sig) == {"signature"} for sig in key_mgr["signatures"].values())
    # written exactly as CCT writes metadata files
    text = (signed / "key_mgr.json").read_text()
    assert text.startswith('{\n  "signatures": {\n')


def test_root_rotation_with_threshold(signed: Path, keys_dir: Path) -> None:
    first = _read(signed / "1.root.json")
    result = rotate_root(signed, keys_dir, new_root_keys=3, root_threshold=2, root_days=30)
    assert result.root_version == 2 and len(result.offline_keys) == 3
    second = _read(signed / "2.root.json")
    old_key = first["signed"]["delegations"]["root"]["pubkeys"][0]
    assert set(second["signatures"]) == {
        old_key,
        *second["signed"]["delegations"]["root"]["pubkeys"],
    }
    trusted = verify_channel(signed, trusted_root=first)
    assert trusted.ok and trusted.root_version == 2
    # Rotating again needs 2 of the 3 new keys: remove two of them.
    removed = {key[:16] for key in second["signed"]["delegations"]["root"]["pubkeys"][1:]}
    for path in sorted(keys_dir.glob("root-*.pem")):
        if path.name[5:21] in removed:
            path.unlink()
    with pytest.raises(KeyUnavailable, match="1 of the root keys are in the keys directory, 2"):
        rotate_root(signed, keys_dir)


def test_root_renewal_keeps_keys_and_extends_expiry(signed: Path, keys_dir: Path) -> None:
    rotate_root(signed, keys_dir, new_root_keys=None, root_days=800)
    later = now_utc() + timedelta(days=500)
    second = _read(signed / "2.root.json")
    assert second["signed"]["delegations"] == _read(signed / "1.root.json")["signed"]["delegations"]
    # key_mgr (365 days) expired by then, root 2 did not
    assert _problems(signed, now=later) == [
        f"{signed / 'key_mgr.json'}: expired at "
        f"{_read(signed / 'key_mgr.json')['signed']['expiration']}"
    ]


def test_new_key_mgr_key(signed: Path, keys_dir: Path) -> None:
    old = _read(signed / "key_mgr.json")
    rotate_root(signed, keys_dir, new_root_keys=None, new_key_mgr_key=True)
    new = _read(signed / "key_mgr.json")
    assert new["signed"]["version"] == 2 and set(new["signatures"]) != set(old["signatures"])
    assert verify_channel(signed).ok
    (signed / "key_mgr.json").write_bytes((signed / "key_mgr.json").read_bytes())
    # The old key_mgr.json is not trusted by root 2 any more.
    from stockyard.trust.metadata import document_bytes

    (signed / "key_mgr.json").write_bytes(document_bytes(old))
    assert any("key_mgr.json: 0 good signature" in p for p in _problems(signed))


def test_pkg_mgr_rotation_with_overlap(signed: Path, keys_dir: Path, passphrase: bytes) -> None:
    layout = TrustLayout(signed)
    old_key = layout.load_config().signing_key
    result = rotate_pkg_mgr(signed, keys_dir, passphrase, overlap_days=7)
    listed = _read(signed / "key_mgr.json")["signed"]["delegations"]["pkg_mgr"]["pubkeys"]
    assert listed == [result.pkg_mgr_key, old_key]
    assert not list(layout.state_dir.glob(f"pkg_mgr-{old_key[:16]}*"))  # old key gone
    assert verify_channel(signed).ok  # repodata clients cached, signed by the old key
    sign_channel(signed)
    assert verify_channel(signed).ok
    assert not activate_pending(signed)  # overlap still running
    assert activate_pending(signed, now=now_utc() + timedelta(days=8))
    listed = _read(signed / "key_mgr.json")["signed"]["delegations"]["pkg_mgr"]["pubkeys"]
    assert listed == [result.pkg_mgr_key]
    assert verify_channel(signed).ok
    assert layout.load_config().pending_key_mgr_after is None


def test_pkg_mgr_revocation_without_overlap(
    signed: Path, keys_dir: Path, passphrase: bytes
) -> None:
    rotate_pkg_mgr(signed, keys_dir, passphrase, overlap_days=0)
    problems = _problems(signed)
    assert problems and all(("does not delegate to" in p or "more records" in p) for p in problems)
    sign_channel(signed)
    assert verify_channel(signed).ok


def test_pkg_mgr_rotation_needs_the_key_mgr_key(
    signed: Path, keys_dir: Path, passphrase: bytes
) -> None:
    for path in keys_dir.glob("key_mgr-*.pem"):
        path.unlink()
    with pytest.raises(KeyUnavailable, match="key_mgr keys"):
        rotate_pkg_mgr(signed, keys_dir, passphrase)


def test_renew_key_mgr(signed: Path, keys_dir: Path, passphrase: bytes) -> None:
    result = renew_key_mgr(signed, keys_dir, key_mgr_days=1000)
    assert result.key_mgr_version == 2
    assert verify_channel(signed, now=now_utc() + timedelta(days=900)).ok is False  # root
    rotate_pkg_mgr(signed, keys_dir, passphrase)  # key_mgr 3, pending 4
    renew_key_mgr(signed, keys_dir, key_mgr_days=200)  # key_mgr 4, pending 5
    pending = _read(TrustLayout(signed).pending_key_mgr_path)["signed"]
    assert pending["version"] == 5
    assert pending["expiration"] == _read(signed / "key_mgr.json")["signed"]["expiration"]
