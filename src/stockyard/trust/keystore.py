"""Private keys at rest.

- Offline keys (root, key_mgr) are PKCS#8 PEM files, mode 0600, in a directory the operator
  keeps offline (needed only for `trust init` and rotations); encrypted when
  STOCKYARD_TRUST_OFFLINE_PASSPHRASE is set.
- The online pkg_mgr key is always encrypted at rest (PKCS#8 with `BestAvailableEncryption`)
  under the passphrase in STOCKYARD_TRUST_PASSPHRASE or in the file named by
  STOCKYARD_TRUST_PASSPHRASE_FILE: it never exists in clear on disk, and the catalog never sees it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stockyard.trust.errors import KeyUnavailable
from stockyard.trust.keys import SigningKey

PASSPHRASE_ENV = "STOCKYARD_TRUST_PASSPHRASE"
PASSPHRASE_FILE_ENV = "STOCKYARD_TRUST_PASSPHRASE_FILE"
OFFLINE_PASSPHRASE_ENV = "STOCKYARD_TRUST_OFFLINE_PASSPHRASE"
#: Short passphrases make the encryption at rest a formality.
MIN_PASSPHRASE_LENGTH = 12


def online_passphrase(environ: Mapping[str, str] | None = None) -> bytes:
    """The passphrase of the online pkg_mgr key, from the environment (or a file it names)."""
    env = os.environ if environ is None else environ
    value = env.get(PASSPHRASE_ENV)
    if not value and env.get(PASSPHRASE_FILE_ENV):
        path = Path(env[PASSPHRASE_FILE_ENV])
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise KeyUnavailable(f"cannot read the passphrase file {path}: {exc}") from exc
    if not value:
        raise KeyUnavailable(
            f"no passphrase for the online pkg_mgr key: set {PASSPHRASE_ENV} or "
            f"{PASSPHRASE_FILE_ENV}"
        )
    if len(value) < MIN_PASSPHRASE_LENGTH:
        raise KeyUnavailable(
            f"the pkg_mgr passphrase is shorter than {MIN_PASSPHRASE_LENGTH} characters",
            hint="Use a long random passphrase (e.g. 'openssl rand -hex 32').",
        )
    return value.encode()


def _pem(key: SigningKey, passphrase: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` with mode 0600 from the first byte on (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".key.", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_online_key(key: SigningKey, path: Path, passphrase: bytes) -> None:
    if not passphrase:
        raise KeyUnavailable("refusing to store the online pkg_mgr key without encryption")
    write_private_file(path, _pem(key, passphrase))


def load_private_key(path: Path, passphrase: bytes | None) -> SigningKey:
    """A PKCS#8 PEM ed25519 key; KeyUnavailable when missing, not ed25519 or the passphrase
    is wrong or missing."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyUnavailable(f"cannot read key file {path}: {exc}") from exc
    try:
        private = serialization.load_pem_private_key(data, password=passphrase or None)
    except (TypeError, ValueError) as exc:
        raise KeyUnavailable(f"cannot decrypt or parse key file {path}: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyUnavailable(f"key file {path} does not hold an ed25519 key")
    return SigningKey.from_private(private)


def offline_passphrase(environ: Mapping[str, str] | None = None) -> bytes | None:
    env = os.environ if environ is None else environ
    value = env.get(OFFLINE_PASSPHRASE_ENV)
    return value.encode() if value else None


def write_offline_key(key: SigningKey, directory: Path, role: str) -> Path:
    """`<directory>/<role>-<first 16 hex digits of the public key>.pem`, mode 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        directory.chmod(0o700)
    path = directory / f"{role}-{key.public_hex[:16]}.pem"
    write_private_file(path, _pem(key, offline_passphrase()))
    return path


def load_offline_keys(directory: Path) -> dict[str, SigningKey]:
    """Every key in the offline keys directory, by public key hex."""
    if not directory.is_dir():
        raise KeyUnavailable(f"the offline keys directory {directory} does not exist")
    passphrase = offline_passphrase()
    found: dict[str, SigningKey] = {}
    for path in sorted(directory.glob("*.pem")):
        key = load_private_key(path, passphrase)
        found[key.public_hex] = key
    return found
