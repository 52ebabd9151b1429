"""The reference implementation, conda-content-trust, accepts what we sign: root chain,
key_mgr and every record signature, read from disk and over HTTP as conda reads them; it
rejects a record whose bytes were changed; and its own signing gives our signatures byte for
byte (ed25519 is deterministic, so equal signatures mean equal canonical bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from stockyard.trust.canonical import decode_json
from stockyard.trust.rotation import rotate_pkg_mgr, rotate_root
from stockyard.trust.sign import load_channel_signer, sign_channel
from stockyard.trust.verify import verify_channel
from stockyard.types.encoding import encode_json

from .cct_env import cct_python, run_check
from .http_serve import serve_directory

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def cct() -> Path:
    python, why = cct_python()
    if python is None:
        pytest.skip(f"cannot build the conda-content-trust venv: {why}")
    return python


@pytest.fixture
def served(signed: Path) -> Iterator[str]:
    with serve_directory(signed) as url:
        yield url


def _check(cct: Path, base: str | Path, channel: Path) -> dict[str, Any]:
    return run_check(cct, "verify", str(base), str(channel / "1.root.json"), "linux-64,noarch")


def test_cct_accepts_our_channel_on_disk(cct: Path, signed: Path) -> None:
    result = _check(cct, signed, signed)
    assert result["verified"] == {"linux-64": 120, "noarch": 5}
    assert result["failed"] == {"linux-64": [], "noarch": []}


def test_cct_accepts_over_http_and_rejects_tampering(cct: Path, signed: Path, served: str) -> None:
    assert _check(cct, served, signed)["failed"] == {"linux-64": [], "noarch": []}
    path = signed / "linux-64" / "repodata.json"
    document = decode_json(path.read_bytes())
    victim = next(iter(document["packages"]))
    document["packages"][victim]["depends"] = ["something-else"]
    path.write_bytes(encode_json(document))
    result = _check(cct, served, signed)
    assert result["failed"]["linux-64"] == [victim]
    assert result["verified"]["linux-64"] == 119
    trusted = decode_json((signed / "1.root.json").read_bytes())
    ours = verify_channel(served, trusted_root=trusted, subdirs=["linux-64", "noarch"])
    assert [(p.record, "does not match" in p.reason) for p in ours.problems] == [(victim, True)]


def test_cct_follows_our_rotations(
    cct: Path, signed: Path, keys_dir: Path, passphrase: bytes, served: str
) -> None:
    rotate_root(signed, keys_dir, new_root_keys=3, root_threshold=2)
    rotate_root(signed, keys_dir, new_root_keys=None, new_key_mgr_key=True)
    rotate_pkg_mgr(signed, keys_dir, passphrase, overlap_days=7)
    sign_channel(signed)
    result = _check(cct, served, signed)
    assert result["root_version"] == 3
    assert result["failed"] == {"linux-64": [], "noarch": []}


def test_cct_signs_exactly_as_we_do(cct: Path, signed: Path) -> None:
    key = load_channel_signer(signed)
    raw = key.private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    path = signed / "linux-64" / "repodata.json"
    theirs = run_check(cct, "sign", raw.hex(), str(path))["signatures"]
    ours = decode_json(path.read_bytes())["signatures"]
    assert theirs == {name: entry[key.public_hex]["signature"] for name, entry in ours.items()}
