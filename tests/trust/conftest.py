"""Signed channels built from the real repodata in tests/data, with keys made per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockyard.testing.corpus import load_json_document
from stockyard.trust.ceremony import init_channel
from stockyard.trust.keystore import PASSPHRASE_ENV
from stockyard.trust.sign import sign_channel
from stockyard.types.encoding import encode_json, zstd_compress
from tests.conftest import R_REPODATA

PASSPHRASE = "a long test passphrase"
#: Records per subdir in the test channels (signing is ~0.1 ms per record on a slow core).
RECORDS = 120


@pytest.fixture(scope="session")
def r_records() -> dict[str, Any]:
    document: dict[str, Any] = load_json_document(R_REPODATA)
    return dict(list(document["packages"].items())[:RECORDS])


def write_subdir(channel: Path, subdir: str, records: dict[str, Any], **extra: Any) -> bytes:
    """Publish `records` as our publisher would: encode_json, with its .zst."""
    tar = {fn: r for fn, r in records.items() if fn.endswith(".tar.bz2")}
    conda = {fn: r for fn, r in records.items() if fn.endswith(".conda")}
    document = {
        "info": {"subdir": subdir},
        "packages": tar,
        "packages.conda": conda,
        "removed": [],
        "repodata_version": 1,
        **extra,
    }
    data = encode_json(document)
    (channel / subdir).mkdir(parents=True, exist_ok=True)
    (channel / subdir / "repodata.json.zst").write_bytes(zstd_compress(data))
    (channel / subdir / "repodata.json").write_bytes(data)
    return data


def noarch_records(records: dict[str, Any]) -> dict[str, Any]:
    """A few records as .conda noarch ones (so both sections are exercised)."""
    out = {}
    for filename, record in list(records.items())[:5]:
        out[filename.replace(".tar.bz2", ".conda")] = {**record, "subdir": "noarch"}
    return out


@pytest.fixture
def passphrase(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    return PASSPHRASE.encode()


@pytest.fixture
def channel(tmp_path: Path, r_records: dict[str, Any]) -> Path:
    """An unsigned channel: linux-64 and noarch."""
    directory = tmp_path / "channel"
    write_subdir(directory, "linux-64", r_records)
    write_subdir(directory, "noarch", noarch_records(r_records))
    return directory


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "offline-keys"


@pytest.fixture
def signed(channel: Path, keys_dir: Path, passphrase: bytes) -> Iterator[Path]:
    """The channel, set up for signing and signed."""
    init_channel(channel, keys_dir, passphrase)
    sign_channel(channel)
    yield channel
