"""`stockyard cdn changed-urls`, as a script runs it (a real subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

from stockyard.config import load_settings
from stockyard.server.channels import bootstrap
from tests.server.live import stockyard


def _data(tmp_path: Path) -> str:
    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")})
    bootstrap(settings)  # creates `main` and publishes it: one ledger entry
    return str(settings.data_path)


def test_lists_the_last_publish_and_what_came_after_a_revision(tmp_path: Path) -> None:
    data = _data(tmp_path)
    base = ["cdn", "changed-urls", "main", "--data", data, "--base-url", "https://cdn.test/"]
    result = stockyard(*base, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["channel"] == "main" and answer["complete"] and answer["since"] is None
    assert "https://cdn.test/main/noarch/repodata.json" in answer["urls"]
    assert "https://cdn.test/main/channeldata.json.gz" in answer["urls"]
    assert [p["revision"] for p in answer["publishes"]] == [answer["revision"]]

    # Nothing published since the last revision: complete, no URL.
    since = stockyard(*base, "--since", str(answer["revision"]), "--json")
    assert since.returncode == 0 and json.loads(since.stdout)["urls"] == []
    # Plain output: one URL per line (for xargs), the summary on stderr.
    plain = stockyard(*base)
    assert plain.returncode == 0
    assert plain.stdout.splitlines() == answer["urls"]
    assert f"revision {answer['revision']}" in plain.stderr


def test_a_gap_exits_3_and_says_to_purge_the_channel(tmp_path: Path) -> None:
    data = _data(tmp_path)
    result = stockyard("cdn", "changed-urls", "main", "--since", "1", "--data", data, "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["complete"] is False
    assert "purge the whole channel" in result.stderr


def test_an_unknown_channel_is_a_clear_error(tmp_path: Path) -> None:
    result = stockyard("cdn", "changed-urls", "nope", "--data", _data(tmp_path))
    assert result.returncode == 1
    assert "error:" in result.stderr and "'nope' does not exist" in result.stderr
    assert "Traceback" not in result.stderr
