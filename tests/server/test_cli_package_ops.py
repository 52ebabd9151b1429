"""`stockyard package remove|yank|unyank|copy` and `stockyard channel delete` on a data dir."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from stockyard.cli.main import main
from tests.index.conftest import build_artifact


def run(capsys, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _records(data: Path, channel: str) -> dict:  # type: ignore[type-arg]
    path = data / "channels" / channel / "noarch" / "repodata.json"
    return json.loads(path.read_bytes())["packages.conda"]


def test_package_operations_from_the_cli(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    for name in ("main", "stable"):
        assert run(capsys, "channel", "create", name, "--data", str(data))[0] == 0
    artifact = build_artifact(tmp_path / "built", "noarch", "alpha")
    shutil.copy(artifact, data / "channels" / "main" / "noarch" / artifact.name)
    # Files copied in by hand are indexed at the next start; here: create's reindex path.
    from stockyard.config import load_settings
    from stockyard.server.channels import publish_channel

    publish_channel(load_settings(env={}, overrides={"data_dir": str(data)}), "main")
    path = f"noarch/{artifact.name}"
    code, out, _ = run(capsys, "package", "yank", "main", path, "--data", str(data), "--json")
    assert code == 0 and json.loads(out)["action"] == "yanked"
    assert _records(data, "main")[artifact.name]["revoked"] is True
    assert run(capsys, "package", "unyank", "main", path, "--data", str(data))[0] == 0
    code, out, _ = run(
        capsys, "package", "copy", "main", path, "--to", "stable", "--data", str(data)
    )
    assert code == 0 and "copied" in out
    assert artifact.name in _records(data, "stable")
    assert run(capsys, "package", "remove", "main", path, "--data", str(data))[0] == 0
    assert artifact.name not in _records(data, "main")
    code, _, err = run(capsys, "package", "remove", "main", "nonsense", "--data", str(data))
    assert code == 1 and "SUBDIR/FILENAME" in err
    code, _, err = run(capsys, "channel", "delete", "stable", "--data", str(data))
    assert code == 1 and "--yes" in err
    assert run(capsys, "channel", "delete", "stable", "--yes", "--data", str(data))[0] == 0
    assert not (data / "channels" / "stable").exists()
