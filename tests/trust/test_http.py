"""Our verifier over HTTP: a signed channel served by a plain http.server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.trust.errors import TrustError
from stockyard.trust.verify import verify_channel
from stockyard.types.encoding import encode_json

from .http_serve import serve_directory


@pytest.fixture
def served(signed: Path) -> Iterator[str]:
    (signed / "channeldata.json").write_bytes(encode_json({"subdirs": ["linux-64", "noarch"]}))
    with serve_directory(signed) as url:
        yield url


def test_verify_over_http(served: str) -> None:
    report = verify_channel(served)
    assert report.ok, [str(p) for p in report.problems]
    assert report.verified == {"linux-64": 120, "noarch": 5}


def test_over_http_problems_name_the_url(signed: Path, served: str) -> None:
    (signed / "key_mgr.json").unlink()
    report = verify_channel(served + "/")
    assert [str(p) for p in report.problems] == [f"{served}/key_mgr.json: missing"]


def test_signing_base_elsewhere(signed: Path, served: str, tmp_path: Path) -> None:
    metadata = tmp_path / "metadata"
    metadata.mkdir()
    for name in ("1.root.json", "key_mgr.json"):
        (signed / name).rename(metadata / name)
    assert not verify_channel(served).ok
    assert verify_channel(served, signing_base=metadata).ok


def test_unreachable_server() -> None:
    with serve_directory(Path(".")) as url:
        pass  # the port is closed again
    with pytest.raises(TrustError, match="cannot fetch"):
        verify_channel(url)
