"""The systemd unit for `stockyard serve`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from stockyard.config import load_settings
from stockyard.deploy.systemd import SystemdUnit, render_systemd_unit, systemd_unit_for
from stockyard.types.errors import ConfigError
from tests.server.live import stockyard


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_unit_runs_serve_with_data_and_config(tmp_path: Path) -> None:
    config = tmp_path / "stockyard.toml"
    config.write_text('data_dir = "/srv/stockyard"\n')
    settings = load_settings(config, env={})
    unit = systemd_unit_for(
        settings, config=config, user="conda", group="conda", command=("/opt/sy/bin/stockyard",)
    )
    directives = _directives(render_systemd_unit(unit))
    assert directives["ExecStart"] == [
        f"/opt/sy/bin/stockyard serve --data /srv/stockyard --config {config}"
    ]
    assert directives["User"] == ["conda"] and directives["Group"] == ["conda"]
    assert directives["WorkingDirectory"] == ["/srv/stockyard"]
    assert directives["Restart"] == ["on-failure"]
    assert directives["NoNewPrivileges"] == ["yes"]
    assert directives["ProtectSystem"] == ["strict"]
    assert directives["ReadWritePaths"] == ["/srv/stockyard"]
    assert directives["WantedBy"] == ["multi-user.target"]


def test_local_postgres_orders_the_unit_after_it(tmp_path: Path) -> None:
    settings = load_settings(
        env={},
        overrides={
            "data_dir": "/srv/sy",
            "db_url": "postgresql+psycopg://stockyard@localhost/stockyard",
        },
    )
    text = render_systemd_unit(systemd_unit_for(settings, command=("/x/stockyard",)))
    assert "After=network-online.target postgresql.service" in text


def test_specifiers_are_escaped() -> None:
    unit = SystemdUnit(command=("/opt/100%/stockyard",), data_dir=Path("/srv/$HOME"), config=None)
    assert "ExecStart=/opt/100%%/stockyard serve --data /srv/$$HOME" in render_systemd_unit(unit)


@pytest.mark.parametrize("user", ["root;rm", "Has Space", ""])
def test_bad_user_names(user: str) -> None:
    settings = load_settings(env={}, overrides={"data_dir": "/srv/sy"})
    with pytest.raises(ConfigError):
        systemd_unit_for(settings, user=user)


def test_paths_with_spaces_are_refused() -> None:
    settings = load_settings(env={}, overrides={"data_dir": "/srv/my data"})
    with pytest.raises(ConfigError, match="absolute path"):
        systemd_unit_for(settings)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    result = stockyard(
        "deploy", "systemd", "--data", str(tmp_path / "data"), "--user", "root", "-o",
        str(tmp_path / "stockyard.service"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    check = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "stockyard.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 even for unknown keys or bad values; it names the file in every complaint.
    complaints = [line for line in check.stderr.splitlines() if "stockyard.service" in line]
    assert complaints == []
    assert "ExecStart=" in (tmp_path / "stockyard.service").read_text()
