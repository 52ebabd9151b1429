"""`stockyard check-config` against real components: SQLite and PostgreSQL catalogs, moto's S3
server, redis-server, TLS files; secrets never in its output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from stockyard.catalog import Catalog
from stockyard.catalog.schema import SCHEMA_VERSION
from stockyard.config import load_settings
from stockyard.config.check import (
    Check,
    ConfigReport,
    ProbeFailed,
    check_config,
    check_settings,
    ping_redis,
)
from stockyard.server.channels import bootstrap
from tests.catalog.conftest import fresh_pg_database
from tests.config.conftest import REDIS_PASSWORD
from tests.s3server import S3Server, s3_server
from tests.server.live import free_port, stockyard
from tests.server.tls import make_pki

#: Short: unreachable components fail fast.
TIMEOUT = 3.0


def _by_component(report: ConfigReport) -> dict[str, Check]:
    return {check.component: check for check in report.checks}


def _check(tmp_path: Path, **overrides: object) -> dict[str, Check]:
    values = {"data_dir": str(tmp_path / "data"), **overrides}
    return _by_component(check_config(env={}, overrides=values, timeout=TIMEOUT))


# --- the embedded default -------------------------------------------------------------------


def test_fresh_and_bootstrapped_embedded_default(tmp_path: Path) -> None:
    fresh = _check(tmp_path)
    assert {c.status for c in fresh.values()} <= {"ok", "skipped"}
    assert "first start" in fresh["catalog"].detail
    assert "first start creates it" in fresh["storage"].detail
    assert not (tmp_path / "data").exists()  # a check creates nothing
    assert fresh["broker"].status == "skipped" and "in-process" in fresh["broker"].detail

    bootstrap(load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")}))
    booted = _check(tmp_path)
    catalog = booted["catalog"]
    assert catalog.status == "ok"
    assert f"schema version {SCHEMA_VERSION} (current); writable" in catalog.detail
    assert booted["storage"].detail.endswith("is writable")
    assert booted["data_dir"].status == "ok"
    # Nothing was left behind by the write probes.
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'catalog.db'}")
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT key FROM catalog_info")).scalars().all()
    engine.dispose()
    assert keys == ["schema_version"]
    assert not list((tmp_path / "data" / "channels").glob(".stockyard-check-*"))


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    checks = _check(tmp_path, data_dir=str(blocker))
    assert checks["data_dir"].status == "failed"
    assert "is not a directory" in checks["data_dir"].detail


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    good = stockyard("check-config", "--data", str(data), "--json")
    assert good.returncode == 0, good.stderr
    report = json.loads(good.stdout)
    assert report["ok"] is True
    assert [c["component"] for c in report["checks"]][:3] == ["settings", "data_dir", "catalog"]

    table = stockyard("check-config", "--data", str(data))
    assert table.returncode == 0
    assert "catalog" in table.stdout and "skipped" in table.stdout

    port = free_port()  # nothing listens there
    secret = "Pg-Pa55word-9"
    env = {
        "STOCKYARD_DB_URL": f"postgresql://stockyard:{secret}@127.0.0.1:{port}/x",
        "STOCKYARD_BROKER_URL": f"redis://:{secret}@127.0.0.1:{port}/0",
    }
    for output in ([], ["--json"]):
        bad = stockyard("check-config", "--data", str(data), "--timeout", "2", *output, env=env)
        assert bad.returncode == 1
        assert secret not in bad.stdout + bad.stderr
    checks = {c["component"]: c for c in json.loads(bad.stdout)["checks"]}
    assert checks["catalog"]["status"] == checks["broker"]["status"] == "failed"
    assert checks["catalog"]["target"] == f"postgresql://stockyard:***@127.0.0.1:{port}/x"
    assert checks["broker"]["target"] == f"redis://:***@127.0.0.1:{port}/0"


def test_invalid_settings_are_one_failed_check(tmp_path: Path) -> None:
    config = tmp_path / "stockyard.toml"
    config.write_text('db_url = "postgresql://u:Inline-Pa55@db/x"\n')
    report = check_config(config, env={})
    (only,) = report.checks
    assert (only.component, only.status, only.target) == ("settings", "failed", str(config))
    assert "password written in the settings file" in only.detail
    assert "Inline-Pa55" not in only.detail + only.hint
    assert not report.ok
    result = stockyard("check-config", "--config", str(config), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["checks"][0]["hint"].startswith("Reference it instead")


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_catalog(tmp_path: Path) -> None:
    with fresh_pg_database() as url:
        empty = _check(tmp_path, db_url=url)["catalog"]
        assert empty.status == "ok" and "empty" in empty.detail and "allowed" in empty.detail
        engine = create_engine(url)
        with engine.connect() as conn:  # the create probe was rolled back
            assert conn.execute(text("SELECT to_regclass('catalog_info')")).scalar() is None
        Catalog.open(url).close()
        current = _check(tmp_path, db_url=url)["catalog"]
        assert current.status == "ok", current
        assert f"schema version {SCHEMA_VERSION} (current)" in current.detail

        name = url.rsplit("/", 1)[1]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        read_only = _check(tmp_path, db_url=url)["catalog"]
        assert read_only.status == "failed"
        assert "read-only" in read_only.detail and "primary" in read_only.hint
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
            conn.execute(
                text("UPDATE catalog_info SET value = :v WHERE key = 'schema_version'"),
                {"v": str(SCHEMA_VERSION + 1)},
            )
        newer = _check(tmp_path, db_url=url)["catalog"]
        assert newer.status == "failed" and "newer Stockyard" in newer.detail
        engine.dispose()

        missing = _check(tmp_path, db_url=url.rsplit("/", 1)[0] + "/no_such_database")["catalog"]
        assert missing.status == "failed" and "createdb" in missing.hint


def test_unreachable_database(tmp_path: Path) -> None:
    url = f"postgresql://stockyard:S3cret-Pw@127.0.0.1:{free_port()}/stockyard"
    catalog = _check(tmp_path, db_url=url)["catalog"]
    assert catalog.status == "failed"
    assert "S3cret-Pw" not in catalog.target + catalog.detail + catalog.hint
    assert "stockyard:***@" in catalog.target
    assert "Check host and port" in catalog.hint


# --- S3 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> S3Server:  # type: ignore[misc]
    with s3_server(log=tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


def test_bucket_storage(tmp_path: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3.environment().items():
        if name != "AWS_ENDPOINT_URL":
            monkeypatch.setenv(name, value)
    bucket = s3.create_bucket("check-config")
    checks = _check(tmp_path, storage_url=f"s3://{bucket}/prod", s3_endpoint_url=s3.url)
    storage = checks["storage"]
    assert storage.status == "ok", storage
    assert "put, get, list and delete" in storage.detail
    assert storage.target == f"s3://{bucket}/prod at {s3.url}"
    assert s3.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # probe deleted
    # Replicas behind a front should say where clients reach them.
    assert checks["public_url"].status == "warning"

    missing = _check(tmp_path, storage_url="s3://no-such-bucket/x", s3_endpoint_url=s3.url)
    assert missing["storage"].status == "failed"
    assert "NoSuchBucket" in missing["storage"].detail
    assert "Create the bucket" in missing["storage"].hint

    down = _check(
        tmp_path, storage_url=f"s3://{bucket}", s3_endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    assert down["storage"].status == "failed"
    assert "s3_endpoint_url" in down["storage"].hint


# --- Redis ----------------------------------------------------------------------------------


@pytest.mark.parametrize("use_package", [True, False], ids=["redis-py", "resp-socket"])
def test_broker_ping(redis_url: str, use_package: bool) -> None:
    host = redis_url.removeprefix("redis://")
    ping_redis(f"redis://:{REDIS_PASSWORD}@{host}/0", TIMEOUT, use_package=use_package)
    cases = [
        (f"redis://:wrong-password@{host}/0", "Check the user and password"),
        (f"redis://{host}/0", "needs a password"),
        (f"redis://:{REDIS_PASSWORD}@{host}/99", "database number"),
        (f"redis://127.0.0.1:{free_port()}/0", "Check host and port"),
    ]
    for url, hint in cases:
        with pytest.raises(ProbeFailed) as caught:
            ping_redis(url, TIMEOUT, use_package=use_package)
        assert hint in caught.value.hint, (url, caught.value.detail)
        assert "wrong-password" not in caught.value.detail


def test_broker_check_masks_the_password(tmp_path: Path, redis_url: str) -> None:
    host = redis_url.removeprefix("redis://")
    settings = load_settings(
        env={},
        overrides={"data_dir": str(tmp_path), "broker_url": f"redis://:{REDIS_PASSWORD}@{host}/0"},
    )
    broker = _by_component(check_settings(settings, timeout=TIMEOUT))["broker"]
    assert broker.status == "ok" and broker.detail == "PING answered PONG"
    assert broker.target == f"redis://:***@{host}/0"


# --- URLs and TLS ---------------------------------------------------------------------------


def test_tls_files(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    good = _check(tmp_path, tls_cert=str(pki.cert), tls_key=str(pki.key))["tls"]
    assert good.status == "warning"  # the test certificate is valid for two days only
    assert "the key matches" in good.detail and "expires on" in good.detail
    mismatch = _check(tmp_path, tls_cert=str(pki.ca), tls_key=str(pki.key))["tls"]
    assert mismatch.status == "failed" and "does not belong" in mismatch.detail
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    broken = _check(tmp_path, tls_cert=str(garbage), tls_key=str(pki.key))["tls"]
    assert broken.status == "failed" and "PEM" in broken.detail
    assert _check(tmp_path)["tls"].status == "skipped"


def test_public_url_and_webhook(tmp_path: Path) -> None:
    checks = _check(
        tmp_path,
        public_url="https://conda.example.com/prefix",
        purge_webhook_url="https://purger:Hook-Pa55@cdn.internal/purge",
    )
    assert checks["public_url"].status == "ok"
    assert checks["public_url"].detail == "clients are given https://conda.example.com/prefix"
    webhook = checks["purge_webhook"]
    assert webhook.status == "ok" and webhook.target == "https://purger:***@cdn.internal/purge"
    plain = _check(tmp_path, public_url="http://conda.example.com")["public_url"]
    assert plain.status == "warning" and "https" in plain.hint
    query = _check(tmp_path, public_url="https://conda.example.com/?x=1")["public_url"]
    assert query.status == "failed" and "query" in query.detail
    no_host = _check(tmp_path, purge_webhook_url="https:///purge")["purge_webhook"]
    assert no_host.status == "failed" and "no host" in no_host.detail
