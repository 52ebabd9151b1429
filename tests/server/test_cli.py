"""`stockyard channel ...` and `stockyard token ...` against a data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockyard.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def data(tmp_path: Path) -> str:
    """An empty data directory (a catalog and no channel): commands other than `serve` and
    `channel create` refuse to create one."""
    from stockyard.config import load_settings
    from stockyard.server.channels import open_catalog

    path = tmp_path / "data"
    open_catalog(load_settings(env={}, overrides={"data_dir": str(path)}), create=True).close()
    return str(path)


def test_channel_create_and_list(capsys, data) -> None:
    code, out, _ = run(capsys, "channel", "create", "team", "--data", data, "--json")
    assert code == 0
    assert json.loads(out) == {
        "name": "team",
        "private": False,
        "url": "http://127.0.0.1:8000/team",
    }
    assert (Path(data) / "channels" / "team" / "noarch" / "repodata.json").exists()
    code, _, _ = run(capsys, "channel", "create", "hidden", "--private", "--data", data)
    assert code == 0
    code, out, _ = run(capsys, "channel", "list", "--data", data, "--json")
    listed = {c["name"]: c for c in json.loads(out)}
    assert set(listed) == {"team", "hidden"}
    assert listed["hidden"]["private"] is True and listed["team"]["subdirs"] == ["noarch"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("api", "reserved"), ("team/label", "one-segment"), ("Bad Name", "invalid")],
)
def test_channel_create_refuses(capsys, data, name, message) -> None:
    code, _, err = run(capsys, "channel", "create", name, "--data", data)
    assert code == 1
    assert message in err


def test_channel_create_twice(capsys, data) -> None:
    assert run(capsys, "channel", "create", "team", "--data", data)[0] == 0
    code, _, err = run(capsys, "channel", "create", "team", "--data", data)
    assert code == 1 and "already exists" in err


def test_token_lifecycle(capsys, data) -> None:
    run(capsys, "channel", "create", "team", "--data", data)
    code, out, _ = run(
        capsys,
        "token", "create", "--channel", "team", "--scope", "write", "--expires", "30d",
        "--description", "ci", "--data", data, "--json",
    )  # fmt: skip
    assert code == 0
    made = json.loads(out)
    assert made["token"].startswith("sy-") and made["channel"] == "team"
    assert made["expires_at"] - made["created_at"] == 30 * 86400 * 1000
    code, out, _ = run(capsys, "token", "list", "--data", data, "--json")
    (listed,) = json.loads(out)
    assert "token" not in listed and made["token"] not in out
    assert listed["prefix"] == made["prefix"] and listed["status"] == "active"
    code, out, _ = run(capsys, "token", "revoke", made["prefix"], "--data", data, "--json")
    assert code == 0 and json.loads(out)["status"] == "revoked"
    code, out, _ = run(capsys, "token", "list", "--data", data)
    assert "revoked" in out


def test_token_create_errors(capsys, data) -> None:
    assert run(capsys, "token", "create", "--scope", "owner", "--data", data)[0] == 1
    code, _, err = run(
        capsys, "token", "create", "--scope", "read", "--channel", "x", "--data", data
    )
    assert code == 1 and "does not exist" in err
    code, _, err = run(
        capsys, "token", "create", "--scope", "read", "--expires", "soon", "--data", data
    )
    assert code == 1 and "duration" in err
    code, _, err = run(capsys, "token", "revoke", "sy-nothing", "--data", data)
    assert code == 1 and "no token" in err


def test_plain_token_output_is_just_the_token(capsys, data) -> None:
    code, out, err = run(capsys, "token", "create", "--scope", "read", "--data", data)
    assert code == 0
    assert out.strip().startswith("sy-") and len(out.strip()) == 43
    assert "shown once" in err


def test_channel_visibility(capsys, data) -> None:
    run(capsys, "channel", "create", "team", "--data", data)
    public = Path(data) / "public"
    assert (public / "team").is_symlink()
    code, out, _ = run(capsys, "channel", "visibility", "team", "--private", "--data", data)
    assert code == 0 and "private" in out
    assert not (public / "team").exists()
    code, out, _ = run(capsys, "channel", "list", "--data", data, "--json")
    assert json.loads(out)[0]["private"] is True
    assert run(capsys, "channel", "visibility", "team", "--public", "--data", data)[0] == 0
    assert (public / "team" / "noarch" / "repodata.json").is_file()


def test_bootstrap_removes_every_orphaned_spooled_upload(tmp_path: Path) -> None:
    """No upload survives a restart: spool files of dead server processes go, whatever their
    age; a live process's (a replica sharing the data directory) stay."""
    import os

    from stockyard.config import load_settings
    from stockyard.server.channels import bootstrap
    from stockyard.server.spool import SpoolOwner

    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path / "d")})
    bootstrap(settings)
    spool = tmp_path / "d" / "channels" / "main" / ".stockyard" / "uploads"
    spool.mkdir(parents=True)
    dead = SpoolOwner()
    dead.claim(spool)
    dead_lock = next(spool.glob(".owner.*.lock"))
    dead.close()
    dead_lock.write_bytes(b"")  # as a killed process leaves it: present, not locked
    old, fresh = spool / ".upload.old.part", spool / f"{dead.file_prefix}new.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (0, 0))
    live = SpoolOwner()
    live.claim(spool)
    in_flight = spool / f"{live.file_prefix}busy.part"
    in_flight.write_bytes(b"z")
    try:
        again = bootstrap(settings)
        assert not old.exists() and not fresh.exists() and not dead_lock.exists()
        assert in_flight.exists()
    finally:
        live.close()
    assert again.admin_token is None and again.created_channels == []


def test_serve_on_a_port_in_use_fails_before_creating_anything(capsys, tmp_path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        data = tmp_path / "data"
        code, out, err = run(capsys, "serve", "--port", str(port), "--data", str(data))
    assert code == 1
    assert "cannot listen on 127.0.0.1" in err and "hint:" in err
    assert out == ""  # no banner, no token
    assert not data.exists()


def test_commands_do_not_create_a_data_directory(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "token", "list")
    assert code == 1 and "no Stockyard data directory" in err and "--data" in err
    assert not (tmp_path / "stockyard-data").exists()
    code, _, err = run(capsys, "channel", "create", "team")
    assert code == 0 and "creating data directory" in err


def test_argument_errors_use_our_format(capsys) -> None:
    code, _, err = run(capsys, "index", "--zst-level", "99", ".")
    assert code == 2
    assert err.startswith("error:") and "hint:" in err and "--help" in err


def test_channel_urls_use_the_port_the_server_serves_at(capsys, tmp_path) -> None:
    from stockyard.config import load_settings
    from stockyard.server.channels import bootstrap

    data = tmp_path / "data"
    bootstrap(load_settings(env={}, overrides={"data_dir": str(data), "port": 8123}))
    code, out, _ = run(capsys, "channel", "create", "team", "--data", str(data), "--json")
    assert code == 0 and json.loads(out)["url"] == "http://127.0.0.1:8123/team"


def test_token_delete_needs_yes_and_removes_the_record(capsys, data) -> None:
    code, out, _ = run(capsys, "token", "create", "--scope", "read", "--data", data)
    token = out.strip()
    code, _, err = run(capsys, "token", "delete", token, "--data", data)
    assert code == 1 and "--yes" in err
    assert run(capsys, "token", "delete", token, "--yes", "--data", data)[0] == 0
    code, out, _ = run(capsys, "token", "list", "--data", data, "--json")
    assert json.loads(out) == []


def test_public_links_made_by_many_callers_at_once(tmp_path: Path) -> None:
    """Scheduled mirrors create their channels at the same moment at start: each call makes
    its own temporary link, and every public channel ends with exactly one link."""
    import threading

    from stockyard.catalog import Channel
    from stockyard.server.channels import DataLayout, sync_public_links

    layout = DataLayout(tmp_path / "data")
    channels = [Channel(i, f"c{i}", False, None, 0) for i in range(1, 6)]
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            for _ in range(20):
                sync_public_links(layout, channels)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    names = sorted(p.name for p in layout.public_dir.iterdir() if not p.name.startswith("."))
    assert names == [f"c{i}" for i in range(1, 6)]
    assert all((layout.public_dir / n).is_symlink() for n in names)
