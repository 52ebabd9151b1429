"""Our verifier: a signed channel passes; every kind of bad input fails with a clear problem."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from stockyard.trust.canonical import decode_json, now_utc, utc_text
from stockyard.trust.errors import TrustError
from stockyard.trust.keys import generate_key
from stockyard.trust.keystore import load_offline_keys
from stockyard.trust.metadata import document_bytes, sign_envelope
from stockyard.trust.report import VerifyReport
from stockyard.trust.rotation import rotate_root
from stockyard.trust.verify import verify_channel
from stockyard.types.encoding import encode_json


def _reasons(report: VerifyReport) -> str:
    return "\n".join(str(problem) for problem in report.problems)


def _read(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = decode_json(path.read_bytes())
    return result


def _edit_repodata(channel: Path, edit: Any) -> None:
    path = channel / "linux-64" / "repodata.json"
    document = _read(path)
    edit(document)
    path.write_bytes(encode_json(document))
    (channel / "linux-64" / "repodata.json.zst").unlink()


def _first(document: dict[str, Any]) -> str:
    return next(iter(document["packages"]))


def test_signed_channel_verifies(signed: Path) -> None:
    report = verify_channel(signed)
    assert report.ok, _reasons(report)
    assert report.verified == {"linux-64": 120, "noarch": 5}
    assert report.root_version == 1 and report.key_mgr_version == 1
    assert any("trust on first use" in note for note in report.notes)


def test_tampered_record(signed: Path) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["packages"][_first(document)]["depends"].append("evil")

    _edit_repodata(signed, edit)
    report = verify_channel(signed)
    assert not report.ok and len(report.problems) == 1
    problem = report.problems[0]
    assert problem.file.endswith("linux-64/repodata.json") and problem.record
    assert "does not match the record" in problem.reason


@pytest.mark.parametrize(
    ("forge", "expected"),
    [
        (lambda sig: sig[:100], "not 128 lower-case hex digits"),
        (lambda sig: sig.upper(), "not 128 lower-case hex digits"),
        (lambda sig: "ab" * 64, "does not match the record"),
        (lambda sig: 42, "not 128 lower-case hex digits"),
    ],
)
def test_truncated_or_forged_signatures(signed: Path, forge: Any, expected: str) -> None:
    def edit(document: dict[str, Any]) -> None:
        entry = document["signatures"][_first(document)]
        key = next(iter(entry))
        entry[key]["signature"] = forge(entry[key]["signature"])

    _edit_repodata(signed, edit)
    report = verify_channel(signed)
    assert [p.reason for p in report.problems if expected in p.reason], _reasons(report)


def test_signature_by_a_stranger_and_missing_ones(signed: Path) -> None:
    stranger = generate_key()

    def edit(document: dict[str, Any]) -> None:
        names = list(document["packages"])
        record = document["packages"][names[0]]
        from stockyard.trust.canonical import canonical_bytes

        signature = stranger.sign_hex(canonical_bytes(record))
        document["signatures"][names[0]] = {stranger.public_hex: {"signature": signature}}
        del document["signatures"][names[1]]
        document["signatures"][names[2]] = "not an object"

    _edit_repodata(signed, edit)
    text = _reasons(verify_channel(signed))
    assert "does not delegate to" in text and "no signature" in text
    assert "not an object keyed by public key" in text


def test_unsigned_subdir_and_zst_mismatch(signed: Path, r_records: dict[str, Any]) -> None:
    from .conftest import write_subdir

    write_subdir(signed, "osx-64", dict(list(r_records.items())[:2]))
    (signed / "noarch" / "repodata.json.zst").write_bytes(b"not zstd")
    text = _reasons(verify_channel(signed))
    assert 'osx-64/repodata.json: no "signatures" map' in text
    assert "noarch/repodata.json.zst: does not hold the same bytes" in text


def test_expired_root(signed: Path) -> None:
    later = now_utc() + timedelta(days=400)
    report = verify_channel(signed, now=later)
    assert "1.root.json: expired at" in _reasons(report)
    assert report.verified == {}  # nothing is trusted below an expired root


def test_expired_key_mgr(channel: Path, keys_dir: Path, passphrase: bytes) -> None:
    from stockyard.trust.ceremony import init_channel

    init_channel(channel, keys_dir, passphrase, key_mgr_days=10)
    report = verify_channel(channel, now=now_utc() + timedelta(days=11))
    assert "key_mgr.json: expired at" in _reasons(report)


def test_key_mgr_signed_by_the_wrong_key(signed: Path) -> None:
    path = signed / "key_mgr.json"
    document = _read(path)
    path.write_bytes(document_bytes(sign_envelope(document["signed"], [generate_key()])))
    report = verify_channel(signed)
    text = _reasons(report)
    assert "key_mgr.json: 0 good signature(s) from the keys root 1 delegates to" in text
    assert "record signatures not checked" in " ".join(report.notes)


def test_key_mgr_content_changed_after_signing(signed: Path) -> None:
    path = signed / "key_mgr.json"
    document = _read(path)
    document["signed"]["delegations"]["pkg_mgr"]["pubkeys"].append(generate_key().public_hex)
    path.write_bytes(json.dumps(document).encode())
    assert "0 good signature(s)" in _reasons(verify_channel(signed))


def test_root_versions_must_not_skip(signed: Path, keys_dir: Path) -> None:
    rotate_root(signed, keys_dir)
    rotate_root(signed, keys_dir)
    (signed / "2.root.json").unlink()
    text = _reasons(verify_channel(signed))
    assert "3.root.json: root version 3 exists but 2 does not" in text


def test_root_claiming_another_version(signed: Path, keys_dir: Path) -> None:
    rotate_root(signed, keys_dir)
    (signed / "2.root.json").rename(signed / "3.root.json")
    keys = load_offline_keys(keys_dir)
    document = _read(signed / "3.root.json")
    (signed / "2.root.json").write_bytes(
        document_bytes(sign_envelope({**document["signed"], "version": 5}, keys.values()))
    )
    assert "2.root.json: says version 5, expected 2" in _reasons(verify_channel(signed))


def test_new_root_not_signed_by_the_old_keys(signed: Path) -> None:
    """An attacker with the server but not the offline root keys cannot extend the chain."""
    mine = generate_key()
    signed_part = _read(signed / "1.root.json")["signed"]
    signed_part = {**signed_part, "version": 2}
    signed_part["delegations"] = {
        **signed_part["delegations"],
        "root": {"pubkeys": [mine.public_hex], "threshold": 1},
    }
    (signed / "2.root.json").write_bytes(document_bytes(sign_envelope(signed_part, [mine])))
    text = _reasons(verify_channel(signed))
    assert "2.root.json: 0 good signature(s) from the keys root 1 delegates to" in text


def test_pinned_root_refuses_another_chain(signed: Path, tmp_path: Path, passphrase: bytes) -> None:
    from stockyard.trust.ceremony import init_channel

    other = tmp_path / "other"
    other.mkdir()
    init_channel(other, tmp_path / "other-keys", passphrase)
    trusted = _read(other / "1.root.json")
    report = verify_channel(signed, trusted_root=trusted)
    assert "key_mgr.json: 0 good signature(s)" in _reasons(report)
    assert verify_channel(signed, trusted_root=_read(signed / "1.root.json")).ok


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("signatures"), "not a signed envelope"),
        (lambda d: d["signed"].pop("expiration"), "missing expiration"),
        (lambda d: d["signed"].update(expiration="tomorrow"), "is not a UTC time"),
        (lambda d: d["signed"].update(type="key_mgr"), "type is 'key_mgr'"),
        (lambda d: d["signed"].update(version=0), "version 0 is not an integer >= 1"),
        (lambda d: d["signed"]["delegations"]["root"].update(threshold=2), "only 1 keys"),
        (lambda d: d["signed"]["delegations"].pop("key_mgr"), "no delegation to 'key_mgr'"),
    ],
)
def test_malformed_root(signed: Path, change: Any, expected: str) -> None:
    path = signed / "1.root.json"
    document = _read(path)
    change(document)
    path.write_bytes(json.dumps(document).encode())
    assert expected in _reasons(verify_channel(signed))


def test_missing_and_non_json_metadata(signed: Path) -> None:
    (signed / "key_mgr.json").unlink()
    assert "key_mgr.json: missing" in _reasons(verify_channel(signed))
    (signed / "1.root.json").write_text("{not json")
    assert "1.root.json: not JSON" in _reasons(verify_channel(signed))


def test_not_a_channel(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="neither a channel directory nor"):
        verify_channel(tmp_path / "missing")


def test_report_as_json(signed: Path) -> None:
    data = verify_channel(signed).as_json()
    assert data["ok"] is True and data["verified"]["noarch"] == 5
    assert data["root_expires"] > utc_text(now_utc())
