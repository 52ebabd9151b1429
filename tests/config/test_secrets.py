"""Secrets by reference: `{ env = ... }` / `{ file = ... }` in the file, `STOCKYARD_<KEY>_FILE`,
refusal of inline passwords in the file, masking everywhere a secret could be shown."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from rich.console import Console

from stockyard.config import load_settings
from stockyard.config.secrets import has_password, mask_secret, scrub, secret_parts
from stockyard.config.settings import SECRET_FIELDS
from stockyard.types.errors import ConfigError

PASSWORD = "hunter2-Sw0rdfish"
DB_URL = f"postgresql://stockyard:{PASSWORD}@db.internal:5432/stockyard"


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stockyard.toml"
    path.write_text(text)
    return path


def test_secret_fields_are_marked_in_the_settings_type() -> None:
    assert {"db_url", "broker_url", "purge_webhook_url"} <= SECRET_FIELDS
    assert "public_url" not in SECRET_FIELDS and "data_dir" not in SECRET_FIELDS


def test_env_reference_in_the_file(tmp_path: Path) -> None:
    config = _toml(tmp_path, 'db_url = { env = "PG_URL" }\n')
    settings = load_settings(config, env={"PG_URL": f"  {DB_URL}\n"})
    assert settings.db_url == DB_URL
    # The variable of the setting itself wins over the file: the reference is not needed then.
    other = "postgresql://other@db/x"
    assert load_settings(config, env={"STOCKYARD_DB_URL": other}).db_url == other


def test_file_reference_is_relative_to_the_settings_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "redis").write_text(f"redis://:{PASSWORD}@redis:6379/0\n")
    config = _toml(tmp_path, '[server]\nbroker_url = { file = "secrets/redis" }\n')
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        settings = load_settings(config, env={})
    finally:
        os.chdir(cwd)
    assert settings.broker_url == f"redis://:{PASSWORD}@redis:6379/0"


def test_file_variable_docker_convention(tmp_path: Path) -> None:
    secret = tmp_path / "db_url"
    secret.write_text(DB_URL + "\n")
    settings = load_settings(env={"STOCKYARD_DB_URL_FILE": str(secret)})
    assert settings.db_url == DB_URL
    with pytest.raises(ConfigError, match=r"both \$STOCKYARD_DB_URL and \$STOCKYARD_DB_URL_FILE"):
        load_settings(env={"STOCKYARD_DB_URL_FILE": str(secret), "STOCKYARD_DB_URL": DB_URL})
    # A flag is inline and wins over both.
    flagged = load_settings(
        env={"STOCKYARD_DB_URL_FILE": str(secret)}, overrides={"db_url": "sqlite:///x.db"}
    )
    assert flagged.db_url == "sqlite:///x.db"


def test_inline_in_environment_and_flags_is_fine() -> None:
    assert load_settings(env={"STOCKYARD_DB_URL": DB_URL}).db_url == DB_URL
    assert load_settings(env={}, overrides={"broker_url": "redis://:pw@r/0"}).broker_url


@pytest.mark.parametrize(
    ("line", "key"),
    [
        (f'db_url = "{DB_URL}"', "db_url"),
        (f'broker_url = "redis://:{PASSWORD}@redis:6379/0"', "broker_url"),
        (f'db_url = "postgresql://db.internal/stockyard?password={PASSWORD}"', "db_url"),
        (f'purge_webhook_url = "https://cdn:{PASSWORD}@purger/x"', "purge_webhook_url"),
    ],
)
def test_inline_password_in_the_file_is_refused(tmp_path: Path, line: str, key: str) -> None:
    config = _toml(tmp_path, line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    error = caught.value
    assert f"{key} in {config} has a password written in the settings file" in error.message
    assert f'{key} = {{ env = "{key.upper()}" }}' in error.hint
    assert f"STOCKYARD_{key.upper()}_FILE" in error.hint
    assert PASSWORD not in error.message + error.hint


def test_inline_password_in_a_setting_that_is_not_secret(tmp_path: Path) -> None:
    config = _toml(tmp_path, f's3_endpoint_url = "http://minio:{PASSWORD}@minio:9000"\n')
    with pytest.raises(ConfigError, match="s3_endpoint_url") as caught:
        load_settings(config, env={})
    assert "AWS_ACCESS_KEY_ID" in caught.value.hint
    assert PASSWORD not in caught.value.message


def test_a_url_without_password_may_be_written_in_the_file(tmp_path: Path) -> None:
    config = _toml(tmp_path, 'db_url = "postgresql://stockyard@db.internal/stockyard"\n')
    assert load_settings(config, env={}).db_url == "postgresql://stockyard@db.internal/stockyard"


def test_reference_errors(tmp_path: Path) -> None:
    config = _toml(tmp_path, 'db_url = { env = "PG_URL" }\n')
    with pytest.raises(ConfigError, match=r"db_url in .* refers to \$PG_URL, which is not set"):
        load_settings(config, env={})
    with pytest.raises(ConfigError, match=r"\$PG_URL, which is empty"):
        load_settings(config, env={"PG_URL": " \n"})

    missing = _toml(tmp_path, 'db_url = { file = "/nonexistent/db_url" }\n')
    with pytest.raises(ConfigError, match="secret file '/nonexistent/db_url' does not exist"):
        load_settings(missing, env={})

    (tmp_path / "empty").write_text("\n")
    empty = _toml(tmp_path, 'db_url = { file = "empty" }\n')
    with pytest.raises(ConfigError, match="is empty"):
        load_settings(empty, env={})

    (tmp_path / "dir").mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(env={"STOCKYARD_DB_URL_FILE": str(tmp_path / "dir")})

    for bad in ('{ env = "A", file = "B" }', "{ }", '{ path = "x" }', '{ env = "" }'):
        with pytest.raises(ConfigError, match="reference"):
            load_settings(_toml(tmp_path, f"db_url = {bad}\n"), env={})
    with pytest.raises(ConfigError, match="only secret settings can be given by reference"):
        load_settings(_toml(tmp_path, 'public_url = { env = "URL" }\n'), env={"URL": "x"})


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "db_url"
    secret.write_text(DB_URL)
    secret.chmod(0)
    with pytest.raises(ConfigError, match="is not readable by this user"):
        load_settings(env={"STOCKYARD_DB_URL_FILE": str(secret)})


def test_secrets_never_shown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(
        env={
            "STOCKYARD_DB_URL": DB_URL,
            "STOCKYARD_BROKER_URL": f"redis://worker:{PASSWORD}@redis:6379/0",
            "STOCKYARD_PURGE_WEBHOOK_URL": f"https://purger/x?token={PASSWORD}",
        }
    )
    shown = repr(settings)
    assert PASSWORD not in shown
    assert "postgresql://stockyard:***@db.internal:5432/stockyard" in shown
    assert "redis://worker:***@redis:6379/0" in shown
    assert "token=***" in shown
    console = Console(record=True, width=200)
    console.print(settings)
    assert PASSWORD not in console.export_text()
    with caplog.at_level(logging.INFO):
        logging.getLogger("stockyard.test").info("settings: %r", settings)
    assert PASSWORD not in caplog.text
    # The real values are still there for whoever connects.
    assert settings.db_url == DB_URL
    assert PASSWORD in settings.to_json().decode()


def test_invalid_secret_value_error_is_masked() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"STOCKYARD_BROKER_URL": f"http://:{PASSWORD}@redis:6379"})
    assert PASSWORD not in caught.value.message
    assert "'http://:***@redis:6379' is not a redis or rediss URL" in caught.value.message


def test_masking_helpers() -> None:
    assert mask_secret("postgresql://u:p%40ss@h:5/db?sslmode=require") == (
        "postgresql://u:***@h:5/db?sslmode=require"
    )
    assert mask_secret("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_secret("a-bare-token") == "***"
    assert has_password("redis://:pw@h") and not has_password("redis://h:6379/0")
    hidden = secret_parts([DB_URL, None])
    message = f"could not connect to {DB_URL}; password {PASSWORD} refused"
    scrubbed = scrub(message, hidden)
    assert PASSWORD not in scrubbed
    assert "postgresql://stockyard:***@db.internal:5432/stockyard" in scrubbed
