"""With the real publish path: `stockyard index`, then the signing hook the commit path calls.

Shows the integration contract: after every publish, `sign_channel(channel_dir, subdirs)` adds
signatures to what the publisher wrote (unsigned), signing only the new records.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stockyard.cli.main import main
from stockyard.trust.sign import sign_channel
from stockyard.trust.verify import verify_channel
from tests.index.conftest import build_artifact

pytestmark = pytest.mark.integration


def test_index_then_sign_then_index_again(
    tmp_path: Path, keys_dir: Path, passphrase: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = tmp_path / "indexed"
    for number in range(4):
        build_artifact(channel, "linux-64", f"pkg{number}", depends=["python >=3.8"])
    build_artifact(channel, "noarch", "data-only", fmt="tar.bz2")
    assert main(["index", str(channel), "--bz2", "--current-repodata"]) == 0
    assert main(["trust", "init", str(channel), "--keys-dir", str(keys_dir)]) == 0
    capsys.readouterr()
    report = verify_channel(channel)
    assert report.ok and report.verified == {"linux-64": 4, "noarch": 1}

    build_artifact(channel, "linux-64", "pkg-new")
    assert main(["index", str(channel), "--bz2", "--current-repodata"]) == 0
    # The commit step signs what it published (ChannelCommit.sign): one new signature, four
    # reused, so the channel verifies at once and signing again has nothing to do.
    assert verify_channel(channel).ok
    results = sign_channel(channel, ["linux-64"])
    assert results is not None and (results[0].signed, results[0].reused) == (0, 5)
    assert results[0].written == []
    # An index run that changes nothing leaves the signed files alone.
    assert main(["index", str(channel), "--bz2", "--current-repodata"]) == 0
    assert verify_channel(channel).ok
