"""Settings: defaults, TOML file, STOCKYARD_* variables, flags; invalid values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockyard.config import Settings, load_settings, parse_duration, parse_size
from stockyard.types.errors import ConfigError


def test_defaults() -> None:
    settings = load_settings(env={})
    assert settings == Settings()
    assert settings.host == "127.0.0.1" and settings.port == 8000 and settings.workers == 1
    assert settings.repodata_max_age == 60
    assert settings.max_upload_bytes == 2 * 1024**3
    assert settings.catalog_url.endswith("/stockyard-data/catalog.db")
    assert settings.base_url == "http://127.0.0.1:8000"


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    config = tmp_path / "stockyard.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\n[server]\nworkers = 3\ndata_dir = "d"\n')
    from_file = load_settings(config, env={})
    assert (from_file.port, from_file.workers) == (9000, 3)
    assert from_file.data_dir == str(tmp_path / "d")  # relative to the file
    assert from_file.base_url == "http://127.0.0.1:9000"
    env = {"STOCKYARD_PORT": "9100", "STOCKYARD_CONFIG": str(config)}
    assert load_settings(env=env).port == 9100
    flagged = load_settings(env=env, overrides={"port": 9200, "workers": None})
    assert (flagged.port, flagged.workers) == (9200, 3)


def test_sizes_and_urls() -> None:
    settings = load_settings(
        env={
            "STOCKYARD_MAX_UPLOAD_BYTES": "500MB",
            "STOCKYARD_PUBLIC_URL": "https://conda.example.com/",
            "STOCKYARD_DB_URL": "",
        }
    )
    assert settings.max_upload_bytes == 500_000_000
    assert settings.base_url == "https://conda.example.com"
    assert settings.db_url is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STOCKYARD_PORT": "eighty"}, "$STOCKYARD_PORT"),
        ({"STOCKYARD_PORT": "70000"}, "$STOCKYARD_PORT"),
        ({"STOCKYARD_WORKERS": "0"}, "$STOCKYARD_WORKERS"),
        ({"STOCKYARD_LOG_FORMAT": "xml"}, "$STOCKYARD_LOG_FORMAT"),
        ({"STOCKYARD_MAX_UPLOAD_BYTES": "lots"}, "$STOCKYARD_MAX_UPLOAD_BYTES"),
        ({"STOCKYARD_PUBLIC_URL": "ftp://x"}, "$STOCKYARD_PUBLIC_URL"),
    ],
)
def test_invalid_values_name_the_key(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert named in caught.value.message


def test_bad_files(tmp_path: Path) -> None:
    unknown = tmp_path / "a.toml"
    unknown.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(unknown, env={})
    broken = tmp_path / "b.toml"
    broken.write_text("port = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", env={})
    wrong_type = tmp_path / "c.toml"
    wrong_type.write_text('workers = "many"\n')
    with pytest.raises(ConfigError, match="workers in"):
        load_settings(wrong_type, env={})


def test_round_trip_for_workers() -> None:
    settings = load_settings(env={"STOCKYARD_PORT": "1234"})
    assert Settings.from_json(settings.to_json()) == settings


def test_parse_helpers() -> None:
    assert parse_size("2GiB") == 2 * 1024**3
    assert parse_size("10 kb") == 10_000
    assert parse_size(7) == 7
    assert parse_duration("30d") == 30 * 86400
    assert parse_duration("12h") == 43200
    assert parse_duration("90") == 90
    for bad in ("soon", "-1d", "0s"):
        with pytest.raises(ConfigError):
            parse_duration(bad)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="--tls-cert is set but its pair is not") as caught:
        load_settings(env={}, overrides={"tls_cert": str(cert)})
    assert "--tls-key" in (caught.value.hint or "")


def test_tls_files_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"STOCKYARD_TLS_CERT.*not a readable file"):
        load_settings(
            env={"STOCKYARD_TLS_CERT": str(tmp_path), "STOCKYARD_TLS_KEY": str(tmp_path / "k")}
        )


def test_tls_makes_the_base_url_https(tmp_path: Path) -> None:
    for name in ("c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    settings = load_settings(
        env={}, overrides={"tls_cert": str(tmp_path / "c.pem"), "tls_key": str(tmp_path / "k.pem")}
    )
    assert settings.base_url == "https://127.0.0.1:8000"
    assert not settings.http2
