"""`stockyard job ...` and `stockyard worker` as a user runs them: without a broker a job runs in
the command itself; errors are one line with a hint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockyard.cli.main import main
from stockyard.config import Settings
from stockyard.server.channels import layout_for
from tests.jobs.conftest import deployment_settings
from tests.server.artifacts import make_artifact


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = deployment_settings(tmp_path)
    monkeypatch.setenv("STOCKYARD_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("STOCKYARD_LOCK_TIMEOUT", "0.3")
    monkeypatch.delenv("STOCKYARD_BROKER_URL", raising=False)
    monkeypatch.delenv("STOCKYARD_CONFIG", raising=False)
    return settings


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_run_without_a_broker_runs_here_and_waits(
    deployment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    make_artifact(layout_for(deployment).channel_dir("main") / "noarch", "cli-made", "1.0")
    job = _json(capsys, ["job", "run", "reindex", "channel=main", "--json"])
    assert job["state"] == "succeeded" and job["result"]["artifacts"] == 1
    assert job["runner"] == "inprocess"
    gc = _json(capsys, ["job", "run", "gc", "keep_jobs_days=7", "--json"])
    assert gc["arguments"] == {"keep_jobs_days": 7} and gc["state"] == "succeeded"
    listed = _json(capsys, ["job", "list", "--json", "--kind", "reindex"])
    assert listed["total"] == 1 and listed["jobs"][0]["id"] == job["id"]
    assert _json(capsys, ["job", "show", str(job["id"]), "--json"])["state"] == "succeeded"
    assert main(["job", "show", str(job["id"])]) == 0
    text = capsys.readouterr().out
    assert f"job {job['id']}: reindex succeeded" in text and '"artifacts":1' in text
    assert main(["job", "list"]) == 0
    assert "reindex" in capsys.readouterr().out


def test_failed_job_exits_1_and_retry_runs_it_again(
    deployment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with layout_for(deployment).workspace("main").lock(30):
        code = main(["job", "run", "reindex", "channel=main", "--max-attempts", "1", "--json"])
    captured = capsys.readouterr()
    assert code == 1
    job = json.loads(captured.out)
    assert job["state"] == "failed"
    assert "failed after 1 attempt(s): LockTimeout" in captured.err and "hint:" in captured.err
    again = _json(capsys, ["job", "retry", str(job["id"]), "--json"])
    assert again["state"] == "succeeded" and again["id"] == job["id"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["job", "run", "explode"], "unknown job kind"),
        (["job", "run", "reindex"], "invalid arguments for a reindex job"),
        (["job", "run", "reindex", "channel"], "is not KEY=VALUE"),
        (["job", "run", "gc", "keep_jobs_days=soon"], "invalid arguments for a gc job"),
        (["job", "run", "reindex", "channel=nope"], "does not exist"),
        (["job", "show", "424242"], "job 424242 does not exist"),
        (["job", "list", "--state", "sleeping"], "unknown job state"),
        (["worker"], "broker_url is not set"),
    ],
)
def test_mistakes_are_one_line_errors(
    deployment: Settings, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "error:" in err


def test_without_celery_the_error_says_what_to_install(
    deployment: Settings, tmp_path: Path
) -> None:
    # A `celery` that cannot be imported, as on a machine without the jobs extra.
    shadow = tmp_path / "no-celery" / "celery"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named celery')\n")
    env = {"PYTHONPATH": str(shadow.parent), "STOCKYARD_BROKER_URL": "redis://127.0.0.1:1/0"}
    for argv in (["worker"], ["job", "run", "gc"]):
        done = subprocess.run(
            [sys.executable, "-m", "stockyard.cli.main", *argv],
            capture_output=True,
            text=True,
            env={**os.environ, **env, "STOCKYARD_DATA_DIR": deployment.data_dir},
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        assert "Celery is not installed" in done.stderr
        assert "pip install 'stockyard[jobs]'" in done.stderr


def test_help_texts() -> None:
    for argv in (["job", "--help"], ["job", "run", "--help"], ["worker", "--help"]):
        done = subprocess.run(
            [sys.executable, "-m", "stockyard.cli.main", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert "--visibility-timeout" in done.stdout and "--concurrency" in done.stdout
