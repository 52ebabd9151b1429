"""Signing inside the publish (trust.inline + publish/monolithic.py): the signed repodata.json is
written once, equals what the after-the-publish signer makes of the unsigned document (patched
records, `v3` records, plain and escaped filenames alike), its variants and the catalog's hashes
are of those bytes, and only changed records are signed again."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stockyard.catalog import Catalog, PublishRow, sqlite_url
from stockyard.cli.main import main
from stockyard.publish.monolithic import write_monolithic
from stockyard.trust.canonical import canonical_bytes
from stockyard.trust.inline import InlineSigner
from stockyard.trust.keys import generate_key, verify_raw
from stockyard.trust.repodata_io import read_document
from stockyard.trust.sign import SubdirSigner, sign_channel
from stockyard.trust.verify import verify_channel
from stockyard.types.encoding import encode_json, zstd_decompress
from tests.index.conftest import build_artifact

RECORD = {"name": "a", "version": "1", "build": "0", "build_number": 0, "depends": []}


def _row(
    filename: str, record: dict[str, Any], patched: dict[str, Any] | None = None
) -> PublishRow:
    return PublishRow(
        filename=filename,
        name=record["name"],
        record=encode_json(record),
        patched=encode_json(patched) if patched is not None else None,
        patch_removed=False,
        run_exports=None,
        size=0,
        sha256="",
        indexed_timestamp=0,
    )


def _write(rows: list[PublishRow], *, patched: bool, signer: Any) -> tuple[bytes, bytes]:
    """(repodata_from_packages, repodata.json) bytes, the head replaced as the publisher does."""
    raw, pat, rex = io.BytesIO(), io.BytesIO(), io.BytesIO()
    result = write_monolithic(
        [("packages", []), ("packages.conda", [rows])],
        info={"subdir": "noarch"},
        repodata_version=1,
        removed_from_packages=[],
        from_packages=raw,
        patched=pat if patched else None,
        run_exports=rex,
        signer=signer,
    )

    def fixed(data: bytes, head: bytes | None) -> bytes:
        return data if head is None else head + data[len(result.head) :]

    from_packages = fixed(raw.getvalue(), result.from_packages_head)
    published = fixed(pat.getvalue(), result.patched_head) if patched else from_packages
    return from_packages, published


@pytest.mark.parametrize("patched", [False, True])
def test_inline_equals_signing_after_the_publish(tmp_path: Path, patched: bool) -> None:
    key = generate_key()
    rows = [
        _row("a-1-0.conda", RECORD, {**RECORD, "depends": ["b"]} if patched else None),
        # CEP 48: goes under `v3`, signed in that form.
        _row("c-1-0.conda", {**RECORD, "name": "c", "flags": ["gpu"]}),
        _row('q"uote-1-0.conda', {**RECORD, "name": "q"}),  # an escaped key: the slow path
        _row("z-1-0.conda", {**RECORD, "name": "z", "description": "caf\u00e9 \u2028"}),
    ]
    _, unsigned = _write(rows, patched=patched, signer=None)
    signer = InlineSigner(tmp_path / "channel", "noarch", key)
    from_packages, published = _write(rows, patched=patched, signer=signer)

    after = SubdirSigner.for_channel(tmp_path / "other", "noarch", key)
    document = read_document(unsigned, "unsigned")
    after.add_all(document.records())
    assert published == document.with_signatures(after.signatures_bytes())
    signed = json.loads(published)
    assert set(signed["signatures"]) == {f for f, _ in document.records()}
    assert "c-1-0" in signed["v3"]["conda"]
    if patched:  # repodata_from_packages.json stays unsigned when patches change records
        assert b'"signatures"' not in from_packages
    else:  # without patches both names keep the same (signed) bytes, as unsigned they do
        assert from_packages == published


def test_no_signer_leaves_the_bytes_alone() -> None:
    rows = [_row("a-1-0.conda", RECORD), _row("c-1-0.conda", {**RECORD, "flags": ["x"]})]
    _, published = _write(rows, patched=False, signer=None)
    document = json.loads(published)
    assert "signatures" not in document
    assert published == encode_json(document)


def _published_hash(channel: Path, key: str) -> str:
    catalog = Catalog.open(sqlite_url(channel / ".stockyard" / "catalog.db"))
    try:
        (found,) = catalog.list_channels()
        return catalog.published_hashes(found.id)[key]
    finally:
        catalog.close()


def test_index_publishes_signed_files_once(
    tmp_path: Path, keys_dir: Path, passphrase: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = tmp_path / "indexed"
    for number in range(3):
        build_artifact(channel, "linux-64", f"pkg{number}", depends=["python >=3.8"])
    assert main(["index", str(channel), "--bz2", "--current-repodata"]) == 0
    assert main(["trust", "init", str(channel), "--keys-dir", str(keys_dir)]) == 0
    (cache_log,) = (channel / ".stockyard" / "trust" / "cache").glob("linux-64.*.log")
    logged = cache_log.stat().st_size  # the signatures `trust init` made (a few: logged)
    build_artifact(channel, "linux-64", "pkg-new")
    assert main(["index", str(channel), "--bz2", "--current-repodata"]) == 0
    capsys.readouterr()

    subdir = channel / "linux-64"
    data = (subdir / "repodata.json").read_bytes()
    # The catalog records the bytes published (so the next publish of the same state writes
    # nothing), and every variant holds them.
    assert _published_hash(channel, "linux-64/repodata.json") == hashlib.sha256(data).hexdigest()
    assert zstd_decompress((subdir / "repodata.json.zst").read_bytes(), len(data)) == data
    assert gzip.decompress((subdir / "repodata.json.gz").read_bytes()) == data
    current = (subdir / "current_repodata.json").read_bytes()
    assert gzip.decompress((subdir / "current_repodata.json.gz").read_bytes()) == current
    assert set(json.loads(data)["signatures"]) == {f"pkg{n}-1.0-0.conda" for n in range(3)} | {
        "pkg-new-1.0-0.conda"
    }
    assert verify_channel(channel).ok
    # current_repodata.json carries good signatures of exactly the records it keeps.
    kept = json.loads(current)
    records = {**kept["packages"], **kept["packages.conda"]}
    assert set(kept["signatures"]) == set(records) and records
    for filename, record in records.items():
        ((public, signature),) = kept["signatures"][filename].items()
        assert verify_raw(public, signature["signature"], canonical_bytes(record))
    # One record was new: one signature made, appended to the cache's log (96 bytes).
    assert cache_log.stat().st_size == logged + 96
    # The commit's signing hook found the subdir signed: nothing to redo.
    results = sign_channel(channel, ["linux-64"])
    assert results is not None and results[0].written == [] and results[0].signed == 0
    before = {p.name: p.stat().st_mtime_ns for p in subdir.iterdir()}
    assert main(["index", str(channel), "--bz2", "--current-repodata"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in subdir.iterdir()} == before


def test_a_signed_channel_never_publishes_unsigned_records(
    tmp_path: Path, keys_dir: Path, passphrase: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the passphrase the publish fails before repodata.json changes."""
    channel = tmp_path / "indexed"
    build_artifact(channel, "noarch", "first")
    assert main(["index", str(channel)]) == 0
    assert main(["trust", "init", str(channel), "--keys-dir", str(keys_dir)]) == 0
    published = (channel / "noarch" / "repodata.json").read_bytes()
    monkeypatch.delenv("STOCKYARD_TRUST_PASSPHRASE")
    from stockyard.trust import sign

    monkeypatch.setattr(sign, "_SIGNERS", {})  # no key decrypted earlier in this process
    build_artifact(channel, "noarch", "second")
    assert main(["index", str(channel)]) != 0
    assert (channel / "noarch" / "repodata.json").read_bytes() == published


def test_unsigned_publish_never_imports_cryptography(tmp_path: Path) -> None:
    channel = tmp_path / "plain"
    build_artifact(channel, "noarch", "plain")
    script = (
        "import sys\n"
        "from stockyard.cli.main import main\n"
        f"assert main(['index', {str(channel)!r}]) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'cryptography'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert b'"signatures"' not in (channel / "noarch" / "repodata.json").read_bytes()
