"""Keys at rest: the online key is always encrypted, offline keys are 0600, signatures verify."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from stockyard.trust.errors import KeyUnavailable
from stockyard.trust.keys import generate_key, verify_openpgp, verify_raw
from stockyard.trust.keystore import (
    PASSPHRASE_ENV,
    PASSPHRASE_FILE_ENV,
    load_offline_keys,
    load_private_key,
    online_passphrase,
    write_offline_key,
    write_online_key,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_online_key_is_encrypted_at_rest(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "pkg_mgr.pem"
    write_online_key(key, path, b"a long test passphrase")
    data = path.read_bytes()
    raw = key.private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert b"ENCRYPTED PRIVATE KEY" in data and raw not in data and raw.hex().encode() not in data
    assert _mode(path) == 0o600
    assert load_private_key(path, b"a long test passphrase").public_hex == key.public_hex
    with pytest.raises(KeyUnavailable, match="cannot decrypt"):
        load_private_key(path, b"the wrong passphrase!")
    with pytest.raises(KeyUnavailable, match="cannot decrypt"):
        load_private_key(path, None)


def test_online_key_refuses_no_passphrase(tmp_path: Path) -> None:
    with pytest.raises(KeyUnavailable):
        write_online_key(generate_key(), tmp_path / "k.pem", b"")


def test_passphrase_from_environment_or_file(tmp_path: Path) -> None:
    assert online_passphrase({PASSPHRASE_ENV: "x" * 20}) == b"x" * 20
    secret = tmp_path / "secret"
    secret.write_text("y" * 20 + "\n")
    assert online_passphrase({PASSPHRASE_FILE_ENV: str(secret)}) == b"y" * 20
    with pytest.raises(KeyUnavailable, match="no passphrase"):
        online_passphrase({})
    with pytest.raises(KeyUnavailable, match="shorter"):
        online_passphrase({PASSPHRASE_ENV: "short"})
    with pytest.raises(KeyUnavailable, match="cannot read"):
        online_passphrase({PASSPHRASE_FILE_ENV: str(tmp_path / "missing")})


def test_offline_keys_are_private_files(tmp_path: Path) -> None:
    key = generate_key()
    path = write_offline_key(key, tmp_path / "keys", "root")
    assert _mode(path) == 0o600 and _mode(tmp_path / "keys") == 0o700
    assert path.name == f"root-{key.public_hex[:16]}.pem"
    assert list(load_offline_keys(tmp_path / "keys")) == [key.public_hex]
    with pytest.raises(KeyUnavailable, match="does not exist"):
        load_offline_keys(tmp_path / "nowhere")


def test_offline_keys_encrypted_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKYARD_TRUST_OFFLINE_PASSPHRASE", "offline passphrase")
    path = write_offline_key(generate_key(), tmp_path, "key_mgr")
    assert b"ENCRYPTED" in path.read_bytes()
    assert len(load_offline_keys(tmp_path)) == 1
    monkeypatch.delenv("STOCKYARD_TRUST_OFFLINE_PASSPHRASE")
    with pytest.raises(KeyUnavailable):
        load_offline_keys(tmp_path)


def test_not_an_ed25519_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.pem"
    path.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyUnavailable, match="ed25519"):
        load_private_key(path, None)


def test_signature_forms() -> None:
    key, other = generate_key(), generate_key()
    data = b"some canonical bytes"
    plain = key.sign_hex(data)
    assert verify_raw(key.public_hex, plain, data)
    assert not verify_raw(other.public_hex, plain, data)
    assert not verify_raw(key.public_hex, plain[:-2], data)  # truncated
    assert not verify_raw(key.public_hex, plain.upper(), data)  # CCT: lower case only
    assert not verify_raw(key.public_hex, plain, data + b" ")
    openpgp = key.sign_openpgp(data, 1_700_000_000)
    assert openpgp["other_headers"].startswith("04001608")
    assert verify_openpgp(key.public_hex, openpgp, data)
    assert not verify_openpgp(key.public_hex, {"signature": plain}, data)
    assert not verify_openpgp(key.public_hex, {**openpgp, "other_headers": "04"}, data)
    assert not verify_openpgp(key.public_hex, {**openpgp, "extra": "1"}, data)
