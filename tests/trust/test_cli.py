"""`stockyard trust ...` end to end through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockyard.cli.main import main


def test_init_sign_verify_rotate(
    channel: Path, keys_dir: Path, passphrase: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trust", "init", str(channel), "--keys-dir", str(keys_dir)]) == 0
    out = capsys.readouterr().out
    assert "offline key" in out and "linux-64: 120 records, 120 signed now" in out
    assert main(["trust", "sign", str(channel)]) == 0
    assert "linux-64: 120 records, 0 signed now, 120 unchanged" in capsys.readouterr().out
    assert main(["trust", "verify", str(channel)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["trust", "rotate-root", str(channel), "--keys-dir", str(keys_dir)]) == 0
    assert "2.root.json" in capsys.readouterr().out
    args = ["trust", "rotate-pkg-mgr", str(channel), "--keys-dir", str(keys_dir)]
    assert main(args) == 0
    assert "120 signed now" in capsys.readouterr().out
    assert main(["trust", "renew-key-mgr", str(channel), "--keys-dir", str(keys_dir)]) == 0
    capsys.readouterr()
    root = channel / "1.root.json"
    assert main(["trust", "verify", str(channel), "--json", "--root", str(root)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["root_version"] == 2 and report["key_mgr_version"] == 3


def test_verify_failure_exit_code_and_json(
    signed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (signed / "key_mgr.json").unlink()
    assert main(["trust", "verify", str(signed), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["problems"][0]["reason"] == "missing"
    assert main(["trust", "verify", str(signed)]) == 1
    assert "FAILED: 1 problem(s)" in capsys.readouterr().out


def test_errors_have_hints(
    channel: Path,
    keys_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("STOCKYARD_TRUST_PASSPHRASE", raising=False)
    monkeypatch.delenv("STOCKYARD_TRUST_PASSPHRASE_FILE", raising=False)
    assert main(["trust", "init", str(channel), "--keys-dir", str(keys_dir)]) == 1
    err = capsys.readouterr().err
    assert "no passphrase for the online pkg_mgr key" in err and "hint:" in err
    assert main(["trust", "sign", str(channel)]) == 1
    assert "not set up for signing" in capsys.readouterr().err
    assert main(["trust", "verify", str(channel / "nope")]) == 1
    assert "neither a channel directory" in capsys.readouterr().err
