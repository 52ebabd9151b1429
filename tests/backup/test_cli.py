"""`stockyard backup` and `stockyard restore` as a user runs them: summaries, JSON, and user
mistakes as one `error:` line with a `hint:` (exit code 1)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.backup.conftest import Deployment
from tests.server.live import stockyard


def test_backup_and_restore_print_a_summary_and_json(source: Deployment, tmp_path: Path) -> None:
    data = str(source.settings.data_path)
    backup = stockyard("backup", str(tmp_path / "b"), "--data", data)
    assert backup.returncode == 0, backup.stderr
    assert "backup written" in backup.stdout and "main/label/rc" in backup.stdout
    again = stockyard("backup", str(tmp_path / "j"), "--data", data, "--json")
    summary = json.loads(again.stdout)
    assert summary["tables"]["channels"] == 3 and summary["kept_artifacts"] == 0
    assert {c["name"] for c in summary["channels"]} == {"main", "main/label/rc", "team"}

    target = str(tmp_path / "target")
    restored = stockyard("restore", str(tmp_path / "j"), "--data", target, "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["tables"]["artifacts"] == summary["tables"]["artifacts"]
    human = stockyard("restore", str(tmp_path / "b"), "--data", str(tmp_path / "other"))
    assert human.returncode == 0 and "restored" in human.stdout


def test_mistakes_end_with_an_error_and_a_hint(source: Deployment, tmp_path: Path) -> None:
    data = str(source.settings.data_path)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    refused = stockyard("backup", str(taken), "--data", data)
    assert refused.returncode == 1
    assert "error:" in refused.stderr and "not empty" in refused.stderr
    assert "hint:" in refused.stderr and "Traceback" not in refused.stderr

    not_a_backup = stockyard("restore", str(taken), "--data", str(tmp_path / "t"))
    assert not_a_backup.returncode == 1 and "no manifest.json" in not_a_backup.stderr
    assert not (tmp_path / "t").exists()

    backup = tmp_path / "b"
    assert stockyard("backup", str(backup), "--data", data).returncode == 0
    onto_itself = stockyard("restore", str(backup), "--data", data)
    assert onto_itself.returncode == 1 and "already has 3 channel(s)" in onto_itself.stderr
    assert "hint:" in onto_itself.stderr


def test_help_says_what_is_kept_and_what_is_refused() -> None:
    backup = stockyard("backup", "--help")
    assert backup.returncode == 0 and "--no-artifacts" in backup.stdout
    restore = stockyard("restore", "--help")
    assert "FRESH" in restore.stdout and "--allow-missing-artifacts" in restore.stdout
