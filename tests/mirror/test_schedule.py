"""Scheduled mirrors (`[[mirrors]]` in the server settings): settings validation, one sync into
a served channel, status for the API, and a failed sync leaving the channel as it was."""

from __future__ import annotations

import http.server
from pathlib import Path

import pytest

from stockyard.config import load_settings
from stockyard.server.channels import bootstrap, open_catalog
from stockyard.server.mirror_schedule import check_schedules, read_status, sync_once
from stockyard.types.errors import ConfigError
from tests.mirror.upstreams import rattler_index, static_server
from tests.proxy.upstream_setup import static_upstream_root
from tests.server.artifacts import make_artifact


def _settings(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "stockyard.toml"
    config.write_text(f'data_dir = "data"\n{body}')
    return load_settings(config, env={})


def test_mirrors_table_is_read(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        '[[mirrors]]\nchannel = "cf-mirror"\nupstream = "https://example.org/forge"\n'
        'every = "2h"\ninclude = ["python 3.12.*"]\nlicense_deny = ["GPL-3.0*"]\n',
    )
    (mirror,) = settings.mirrors
    assert (mirror.channel, mirror.seconds, mirror.include) == (
        "cf-mirror",
        7200,
        ("python 3.12.*",),
    )
    check_schedules(settings)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('channel = "Bad Name"\nupstream = "https://x/y"', "channel"),
        ('channel = "m"\nupstream = "ftp://x/y"', "upstream"),
        ('channel = "m"\nupstream = "https://x/y"\nevery = "soon"', "every"),
        ('channel = "m"\nupstream = "https://x/y"\nevery = "10s"', "at least 60"),
        ('channel = "m"\nupstream = "https://x/y"\ncolour = "red"', "colour"),
        ('channel = "m"\nupstream = "https://x/y"\nlicense_unknown = "maybe"', "license_unknown"),
    ],
)
def test_bad_mirror_settings_are_clear_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(tmp_path, f"[[mirrors]]\n{body}\n")


def test_twice_the_same_channel_is_refused(tmp_path: Path) -> None:
    one = '[[mirrors]]\nchannel = "m"\nupstream = "https://x/y"\n'
    with pytest.raises(ConfigError, match="mirrored twice"):
        _settings(tmp_path, one + one)


@pytest.mark.parametrize("field", ['include = ["numpy >=="]', 'license_deny = ["NOT-A-LICENSE"]'])
def test_bad_filters_stop_the_start(tmp_path: Path, field: str) -> None:
    settings = _settings(
        tmp_path, f'[[mirrors]]\nchannel = "m"\nupstream = "https://x/y"\n{field}\n'
    )
    with pytest.raises(ConfigError, match="scheduled mirror of 'm'"):
        bootstrap(settings)


def _bad_bytes(handler: http.server.BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "5")
    handler.end_headers()
    handler.wfile.write(b"nope!")


def test_sync_then_failed_sync_leaves_the_channel(tmp_path: Path) -> None:
    root = static_upstream_root(tmp_path, shards=False)
    with static_server(root) as origin:
        settings = _settings(
            tmp_path,
            f'[[mirrors]]\nchannel = "mirrored"\nupstream = "{origin.url}"\nevery = "1h"\n'
            'subdirs = ["noarch", "linux-64"]\nexclude = ["other"]\n',
        )
        (spec,) = settings.mirrors
        bootstrap(settings)
        catalog = open_catalog(settings)
        try:
            assert read_status(settings, spec)["state"] == "never"
            first = sync_once(settings, catalog, spec)
            assert first["state"] == "ok", first
            assert first["last_result"]["added"] == 7 and first["runs"] == 1
            published = tmp_path / "data" / "channels" / "mirrored" / "noarch" / "repodata.json"
            before = published.read_bytes()
            assert b"other-1.0-0.conda" not in before and b"gamma-1.0-0.conda" in before
            # upstream gains a package whose download is broken: the run fails, nothing changes
            make_artifact(root / "noarch", "delta", "1.0", "0", subdir="noarch")
            rattler_index(root, shards=False)
            origin.overrides["/noarch/delta-1.0-0.conda"] = _bad_bytes
            second = sync_once(settings, catalog, spec)
        finally:
            catalog.close()
    assert second["state"] == "failed" and second["failures"] == 1
    assert "delta-1.0-0.conda" in second["last_error"]["message"]
    assert second["last_success"] == first["last_success"]
    assert published.read_bytes() == before
    status = read_status(settings, spec)
    assert status["state"] == "failed" and status["runs"] == 2
    assert status["next_run"] > status["last_started"]


def test_an_unexpected_error_ends_the_run_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (here an OSError) must not leave the status `running` for ever."""
    from stockyard.server import mirror_schedule

    settings = _settings(
        tmp_path, '[[mirrors]]\nchannel = "m"\nupstream = "https://example.org/x"\nevery = "1h"\n'
    )
    (spec,) = settings.mirrors
    bootstrap(settings)

    def broken(*_args: object) -> dict[str, object]:
        raise FileExistsError(17, "File exists")

    monkeypatch.setattr(mirror_schedule, "_run", broken)
    catalog = open_catalog(settings)
    try:
        status = sync_once(settings, catalog, spec)
    finally:
        catalog.close()
    assert status["state"] == "failed" and status["failures"] == 1
    assert "FileExistsError" in status["last_error"]["message"]
    assert read_status(settings, spec)["state"] == "failed"
