"""`stockyard check-config`: load the settings, then reach each component they name.

Each component gets one `Check`: ok, warning, failed or skipped (not configured), what was found
and, when something is wrong, what to do. Probes run in parallel threads, each bounded by
`timeout` seconds, and never change anything that stays: the catalog write is rolled back, the
storage probe object is deleted, the webhook is not called. Secret values never appear in a
check (URLs are shown with `***` for their password; driver messages are scrubbed).

The catalog probe reads `catalog_info` with SQLAlchemy Core on the catalog's own table objects
instead of opening a `Catalog` (which would create or migrate the schema: a check must not).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import ssl
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import unquote, urlsplit

import msgspec

from stockyard.config.secrets import mask_secret, scrub, secret_parts
from stockyard.config.settings import CONFIG_ENV, SECRET_FIELDS, Settings, load_settings
from stockyard.types.errors import ConfigError, StockyardError

if TYPE_CHECKING:
    from sqlalchemy import Engine

Status = Literal["ok", "warning", "failed", "skipped"]
#: Seconds each component may take to answer.
DEFAULT_TIMEOUT: Final = 5.0
#: Key prefix of the storage probe object (inside the store's hidden `.stockyard/` area).
PROBE_PREFIX: Final = ".stockyard/check-config-"
#: A certificate expiring within this many days is a warning.
EXPIRY_WARNING_DAYS: Final = 14


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One component: what was checked (secrets masked), how it went, what to do."""

    component: str
    target: str
    status: Status
    detail: str
    hint: str = ""


class ConfigReport(msgspec.Struct, frozen=True, kw_only=True):
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """Nothing failed (warnings and skipped components do not fail a deployment)."""
        return all(check.status != "failed" for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": msgspec.to_builtins(self.checks)}


class ProbeFailed(Exception):
    """A probe found something wrong: `detail` says what, `hint` what to do."""

    def __init__(self, detail: str, hint: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


#: What a probe's action returns when it did not fail: a detail (ok), or (status, detail, hint).
_Outcome = str | tuple[Status, str, str]


def _attempt(component: str, target: str, action: Callable[[], _Outcome]) -> Check:
    try:
        outcome = action()
    except ProbeFailed as failed:
        return Check(
            component=component,
            target=target,
            status="failed",
            detail=failed.detail,
            hint=failed.hint,
        )
    except StockyardError as exc:
        return Check(
            component=component, target=target, status="failed", detail=exc.message, hint=exc.hint
        )
    except Exception as exc:  # a probe must never hide the others
        detail = f"{type(exc).__name__}: {exc}"
        return Check(component=component, target=target, status="failed", detail=detail)
    if isinstance(outcome, str):
        return Check(component=component, target=target, status="ok", detail=outcome)
    status, detail, hint = outcome
    return Check(component=component, target=target, status=status, detail=detail, hint=hint)


# --- entry points ---------------------------------------------------------------------------


def check_config(
    config_file: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ConfigReport:
    """Load the settings as `stockyard serve` would; if they are valid, check each component."""
    env = os.environ if env is None else env
    file_name = config_file if config_file is not None else env.get(CONFIG_ENV)
    source = str(file_name) if file_name else "defaults and STOCKYARD_* variables"
    try:
        settings = load_settings(config_file, env=env, overrides=overrides)
    except ConfigError as exc:
        failed = Check(
            component="settings", target=source, status="failed", detail=exc.message, hint=exc.hint
        )
        return ConfigReport(checks=(failed,))
    return check_settings(settings, source=source, timeout=timeout)


def check_settings(
    settings: Settings, *, source: str = "settings", timeout: float = DEFAULT_TIMEOUT
) -> ConfigReport:
    """Reach every component `settings` configure (in parallel) and report each."""
    probes: list[Callable[[Settings, float], Check]] = [
        check_data_dir,
        check_catalog,
        check_storage,
        check_broker,
        check_public_url,
        check_tls,
        check_purge_webhook,
    ]
    loaded = Check(component="settings", target=source, status="ok", detail="loaded and valid")
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        checks = list(pool.map(lambda probe: probe(settings, timeout), probes))
    hidden = secret_parts(getattr(settings, name) for name in SECRET_FIELDS)
    return ConfigReport(checks=(loaded, *(_scrubbed(check, hidden) for check in checks)))


def _scrubbed(check: Check, hidden: list[str]) -> Check:
    return msgspec.structs.replace(
        check,
        target=scrub(check.target, hidden),
        detail=scrub(check.detail, hidden),
        hint=scrub(check.hint, hidden),
    )


# --- local directories ----------------------------------------------------------------------


def _writable_directory(path: Path) -> str:
    """Whether the server can write in `path` (probed with a temp file), or create it."""
    if path.is_dir():
        try:
            handle, name = tempfile.mkstemp(prefix=".stockyard-check-", dir=path)
        except OSError as exc:
            raise ProbeFailed(
                f"{path} is not writable: {exc.strerror}",
                f"Give the service's user write access to {path}.",
            ) from None
        os.close(handle)
        os.unlink(name)
        return f"{path} is writable"
    if path.exists():
        raise ProbeFailed(f"{path} is not a directory", "Point the setting at a directory.")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return f"{path} does not exist yet; the first start creates it ({parent} is writable)"
    raise ProbeFailed(
        f"{path} does not exist and cannot be created ({parent} is not writable)",
        f"Create {path} and give the service's user write access to it.",
    )


def check_data_dir(settings: Settings, _timeout: float) -> Check:
    path = settings.data_path.resolve()
    return _attempt("data_dir", str(path), lambda: _writable_directory(path))


# --- the catalog database -------------------------------------------------------------------


def check_catalog(settings: Settings, timeout: float) -> Check:
    url = settings.catalog_url
    target = mask_secret(url) if settings.db_url else url
    return _attempt("catalog", target, lambda: _probe_catalog(url, timeout))


def _probe_catalog(url: str, timeout: float) -> _Outcome:
    from sqlalchemy.engine import make_url

    sqlite = url.startswith("sqlite")
    if sqlite:
        database = make_url(url).database or ""
        if database not in ("", ":memory:") and not Path(database).exists():
            _writable_directory(Path(database).parent)  # fails if it cannot be created
            return "no catalog yet: the first start of stockyard serve creates it"
    engine = _engine(url, timeout)
    try:
        version = _schema_version(engine)
        from stockyard.catalog.schema import SCHEMA_VERSION

        if version is None:
            if sqlite:
                return "the database is empty: the first start creates the schema"
            _probe_create(engine)
            return "the database is empty: the first start creates the schema (allowed here)"
        if version > SCHEMA_VERSION:
            raise ProbeFailed(
                f"schema version {version} was written by a newer Stockyard (this one knows "
                f"{SCHEMA_VERSION})",
                "Upgrade Stockyard on this machine to the version the other replicas run.",
            )
        _probe_write(engine)
        if version < SCHEMA_VERSION:
            return (
                "warning",
                f"schema version {version}; the next start upgrades it in place to "
                f"{SCHEMA_VERSION}; writable",
                "Upgrade every replica together: older ones cannot read the new schema.",
            )
        return f"connected; schema version {version} (current); writable"
    except ProbeFailed:
        raise
    except Exception as exc:
        raise _database_failure(exc) from None
    finally:
        engine.dispose()


def _engine(url: str, timeout: float) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    connect_args: dict[str, Any] = {"timeout": timeout}
    if not url.startswith("sqlite"):
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]  # as the catalog does
        connect_args = {"connect_timeout": max(1, round(timeout))}
    try:
        return create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ProbeFailed(
            f"not a usable database URL: {exc}",
            "Use postgresql://USER@HOST:PORT/DB (or sqlite:///PATH).",
        ) from None
    except ModuleNotFoundError as exc:
        raise ProbeFailed(
            f"the database driver {exc.name!r} is not installed",
            "pip install 'stockyard[postgres]'",
        ) from None


def _schema_version(engine: Engine) -> int | None:
    """The catalog's schema version; None for a database without the catalog's tables."""
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from stockyard.catalog.schema import catalog_info

    with engine.connect() as conn:
        # Connection failures raise here already; only a missing table means "empty".
        try:
            row = conn.execute(
                select(catalog_info.c.value).where(catalog_info.c.key == "schema_version")
            ).first()
        except (OperationalError, ProgrammingError) as exc:
            if "catalog_info" not in str(exc.orig):
                raise
            return None
    if row is None:
        return None
    try:
        return int(row[0])
    except ValueError:
        raise ProbeFailed(
            f"catalog_info holds schema version {row[0]!r}, not a number",
            "This database is not a Stockyard catalog, or it was damaged: restore a backup.",
        ) from None


def _probe_write(engine: Engine) -> None:
    """Insert a row and roll it back: fails on a read-only user, replica or file."""
    from stockyard.catalog.schema import catalog_info

    with engine.connect() as conn:
        conn.execute(catalog_info.insert().values(key="check-config-probe", value=""))
        conn.rollback()


def _probe_create(engine: Engine) -> None:
    """Create the schema and roll it back (PostgreSQL DDL is transactional)."""
    from stockyard.catalog.schema import metadata

    with engine.connect() as conn:
        metadata.create_all(conn)
        conn.rollback()


#: Substrings of driver messages, and what to do about them.
_DATABASE_HINTS: Final = (
    ("password authentication failed", "Check the user and password of db_url."),
    ("no password supplied", "db_url needs a password: reference it (docs/configuration.md)."),
    ("does not exist", "Create the database (createdb) or fix the name in db_url."),
    ("connection refused", "Is PostgreSQL running and listening there? Check host and port."),
    ("timeout expired", "Nothing answered in time: check the host, port and firewall."),
    ("could not translate host name", "The host name does not resolve: check db_url."),
    ("read-only", "This server is read-only (a standby?): point db_url at the primary."),
    ("permission denied", "Grant the user the rights on the database (owner, or CREATE/INSERT)."),
    ("readonly database", "The SQLite file or its directory is not writable by this user."),
    ("unable to open database", "The SQLite file or its directory cannot be opened."),
)


def _database_failure(exc: Exception) -> ProbeFailed:
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    message = "; ".join(lines[:2]) or type(original).__name__
    lowered = message.lower()
    hint = next((h for text, h in _DATABASE_HINTS if text in lowered), "Check db_url.")
    return ProbeFailed(message, hint)


# --- storage --------------------------------------------------------------------------------


def check_storage(settings: Settings, timeout: float) -> Check:
    from stockyard.storage import parse_storage_url

    if settings.storage_url is None:
        local = settings.data_path.resolve() / "channels"
        return _attempt("storage", f"{local} (local)", lambda: _writable_directory(local))
    location = parse_storage_url(settings.storage_url)  # checked when the settings loaded
    if location.path is not None:
        path = location.path
        return _attempt("storage", settings.storage_url, lambda: _writable_directory(path))
    endpoint = settings.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "AWS"
    target = f"{settings.storage_url} at {endpoint}"
    return _attempt("storage", target, lambda: _probe_bucket(settings, timeout))


def _probe_bucket(settings: Settings, timeout: float) -> str:
    """Put, get, list and delete a probe object under the store's `.stockyard/`."""
    assert settings.storage_url is not None
    from stockyard.storage import open_store

    store = open_store(
        settings.storage_url,
        s3_endpoint_url=settings.s3_endpoint_url,
        client=_s3_client(settings.s3_endpoint_url, timeout),
    )
    key = PROBE_PREFIX + os.urandom(8).hex()
    body = b"stockyard check-config probe\n"
    step = "put"
    stored = False
    try:
        store.put(key, body)
        stored = True
        step = "get"
        if store.get(key) != body:
            raise ProbeFailed(f"get {key} returned other bytes than were put")
        step = "list"
        if key not in {info.key for info in store.list(key.rpartition("/")[0])}:
            raise ProbeFailed(f"list of .stockyard/ does not show {key}, just written")
        step = "delete"
        store.delete(key)
        stored = False
    except ProbeFailed:
        raise
    except Exception as exc:
        raise _s3_failure(step, exc) from None
    finally:
        if stored:
            # Best effort: the failure being reported matters more.
            with contextlib.suppress(Exception):
                store.delete(key)
    return "put, get, list and delete of a probe object under .stockyard/ work"


def _s3_client(endpoint_url: str | None, timeout: float) -> Any:
    """A client like the server's, but failing fast: one attempt, short timeouts."""
    try:
        import boto3
        from botocore.config import Config
    except ModuleNotFoundError:
        raise ProbeFailed(
            "boto3 is not installed (needed for s3:// storage)", "pip install 'stockyard[s3]'"
        ) from None
    config = Config(
        signature_version="s3v4",
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


_S3_HINTS: Final = {
    "NoSuchBucket": "Create the bucket, or fix the bucket name in storage_url.",
    "AccessDenied": "Allow s3:PutObject, GetObject, DeleteObject and ListBucket on the bucket "
    "and prefix for these credentials.",
    "InvalidAccessKeyId": "Check AWS_ACCESS_KEY_ID (and AWS_SECRET_ACCESS_KEY).",
    "SignatureDoesNotMatch": "Check AWS_SECRET_ACCESS_KEY (and the endpoint's region).",
    "NoCredentialsError": "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or give the machine "
    "an instance role).",
    "EndpointConnectionError": "Nothing answered at the endpoint: check s3_endpoint_url (or "
    "AWS_ENDPOINT_URL) and the network.",
    "ConnectTimeoutError": "The endpoint did not answer in time: check s3_endpoint_url and the "
    "firewall.",
    "ReadTimeoutError": "The endpoint accepted the connection but did not answer in time.",
}


def _s3_failure(step: str, exc: Exception) -> ProbeFailed:
    response = getattr(exc, "response", None)
    code = ""
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    name = code or type(exc).__name__
    hint = _S3_HINTS.get(name, "Check storage_url, s3_endpoint_url and the AWS_* credentials.")
    return ProbeFailed(f"{step} failed: {name}: {exc}", hint)


# --- the broker -----------------------------------------------------------------------------


def check_broker(settings: Settings, timeout: float) -> Check:
    url = settings.broker_url
    if url is None:
        return Check(
            component="broker",
            target="",
            status="skipped",
            detail="not set: jobs run in-process (the embedded default)",
        )

    def ping() -> str:
        ping_redis(url, timeout)
        return "PING answered PONG"

    return _attempt("broker", mask_secret(url), ping)


def ping_redis(url: str, timeout: float, *, use_package: bool | None = None) -> None:
    """PING the Redis server of a `redis://` or `rediss://` URL (AUTH and SELECT first when the
    URL says so): with the `redis` package if installed (or `use_package`), else over a socket
    in RESP, so checking needs neither celery nor redis-py. Raises `ProbeFailed`."""
    if use_package is None:
        import importlib.util

        use_package = importlib.util.find_spec("redis") is not None
    try:
        if use_package:
            _ping_with_package(url, timeout)
        else:
            _ping_with_socket(url, timeout)
    except ProbeFailed:
        raise
    except Exception as exc:  # connection errors, the redis package's errors
        raise _redis_failure(str(exc) or type(exc).__name__) from None


def _ping_with_package(url: str, timeout: float) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        if client.ping() is not True:
            raise ProbeFailed("PING did not answer PONG")
    finally:
        client.close()


def _ping_with_socket(url: str, timeout: float) -> None:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    commands: list[list[str]] = []
    if parts.password:
        user = [unquote(parts.username)] if parts.username else []
        commands.append(["AUTH", *user, unquote(parts.password)])
    database = parts.path.strip("/")
    if database:
        commands.append(["SELECT", database])
    commands.append(["PING"])
    with socket.create_connection((host, parts.port or 6379), timeout) as raw:
        sock: socket.socket = raw
        if parts.scheme == "rediss":
            sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host)
        reader = sock.makefile("rb")
        for command in commands:
            sock.sendall(_resp_command(command))
            line = reader.readline(4096)
            if not line:
                raise _redis_failure("the server closed the connection")
            if line.startswith(b"-"):
                raise _redis_failure(f"{command[0]}: {line[1:].decode(errors='replace').strip()}")
        if line.strip() != b"+PONG":
            raise ProbeFailed(f"PING answered {line[:80]!r}, not +PONG", "Is this a Redis server?")


def _resp_command(arguments: list[str]) -> bytes:
    """A command as a RESP array of bulk strings."""
    out = [f"*{len(arguments)}\r\n".encode()]
    for argument in arguments:
        data = argument.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


_REDIS_HINTS: Final = (
    ("noauth", "The server needs a password: reference it in broker_url (redis://:PW@host)."),
    ("authentication required", "The server needs a password: reference it in broker_url."),
    ("already authenticated", "The server needs a password: reference it in broker_url."),
    ("wrongpass", "Check the user and password in broker_url."),
    ("invalid username-password", "Check the user and password in broker_url."),
    ("invalid password", "Check the password in broker_url."),
    ("without any password configured", "The server has no password: drop it from broker_url."),
    ("db index is out of range", "Use a database number the server has (redis://host/0)."),
    ("refused", "Is redis-server running and listening there? Check host and port."),
    ("timed out", "Nothing answered in time: check the host, port and firewall."),
    ("name or service not known", "The host name does not resolve: check broker_url."),
)


def _redis_failure(message: str) -> ProbeFailed:
    lowered = message.lower()
    hint = next((h for text, h in _REDIS_HINTS if text in lowered), "Check broker_url.")
    return ProbeFailed(message, hint)


# --- URLs and TLS ---------------------------------------------------------------------------


def _http_url_problem(url: str) -> str | None:
    """What is wrong with an http(s) URL clients or the server will use, if anything."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number or out of range)
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"the scheme is {parts.scheme or 'missing'}, not http or https"
    if not parts.hostname:
        return "names no host"
    if parts.fragment:
        return "has a #fragment"
    return None


def check_public_url(settings: Settings, _timeout: float) -> Check:
    url = settings.public_url

    def judge() -> _Outcome:
        if url is None:
            scaled = settings.db_url is not None or (settings.storage_url or "").startswith("s3:")
            detail = f"not set: clients are given {settings.base_url}"
            if scaled:
                hint = "Replicas behind a front: set public_url to the URL clients use."
                return "warning", detail, hint
            return detail
        problem = _http_url_problem(url)
        parts = urlsplit(url)
        if problem is None and (parts.username or parts.password):
            problem = "has a user or password in it"
        if problem is None and parts.query:
            problem = "has a ?query"
        if problem:
            raise ProbeFailed(
                f"public_url {problem}",
                "Use the scheme, host and optional path prefix clients reach the server at, "
                "e.g. https://conda.example.com",
            )
        if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            return (
                "warning",
                "clients reach the server over plain http",
                "Tokens travel in URLs and headers: put TLS in front (https://).",
            )
        return f"clients are given {settings.base_url}"

    return _attempt("public_url", url or "", judge)


def check_purge_webhook(settings: Settings, _timeout: float) -> Check:
    url = settings.purge_webhook_url
    if url is None:
        return Check(
            component="purge_webhook",
            target="",
            status="skipped",
            detail="not set: no CDN purge requests after publishes",
        )

    def judge() -> str:
        problem = _http_url_problem(url)
        if problem:
            raise ProbeFailed(
                f"purge_webhook_url {problem}", "Use e.g. https://cdn-purger.internal/purge"
            )
        return "a valid URL (not called by this check: it would purge)"

    return _attempt("purge_webhook", mask_secret(url), judge)


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> bytes:
    raise _EncryptedKey  # instead of OpenSSL prompting on the terminal


def check_tls(settings: Settings, _timeout: float) -> Check:
    cert, key = settings.tls_cert, settings.tls_key
    if not cert or not key:
        return Check(
            component="tls",
            target="",
            status="skipped",
            detail="not set: the server speaks plain HTTP (TLS usually ends at the front)",
        )
    return _attempt("tls", f"{cert}, {key}", lambda: _probe_tls(cert, key))


def _probe_tls(cert: str, key: str) -> _Outcome:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _EncryptedKey:
        raise ProbeFailed(
            f"the private key {key} is encrypted",
            "The server cannot ask for a passphrase: store it decrypted, readable only by the "
            "service (openssl pkey -in KEY -out KEY.plain; chmod 0600).",
        ) from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ProbeFailed(
                f"the private key {key} does not belong to the certificate {cert}",
                "Give the key the certificate was issued for (or the matching certificate).",
            ) from None
        raise ProbeFailed(
            f"not a PEM certificate chain and private key: {exc.reason or exc}",
            "tls_cert: the PEM certificate chain (leaf first); tls_key: its PEM private key.",
        ) from None
    except OSError as exc:
        raise ProbeFailed(
            f"cannot read {exc.filename or 'the TLS files'}: {exc.strerror}",
            "Make both files readable by the service's user.",
        ) from None
    return _certificate_dates(Path(cert))


def _certificate_dates(cert: Path) -> _Outcome:
    from cryptography import x509

    leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    expires = leaf.not_valid_after_utc
    now = datetime.datetime.now(datetime.UTC)
    day = expires.date().isoformat()
    if expires <= now:
        raise ProbeFailed(f"the certificate expired on {day}", "Renew the certificate.")
    if expires - now < datetime.timedelta(days=EXPIRY_WARNING_DAYS):
        return "warning", f"the key matches; the certificate expires on {day}", "Renew it soon."
    return f"the key matches the certificate, valid until {day}"


__all__ = [
    "DEFAULT_TIMEOUT",
    "Check",
    "ConfigReport",
    "ProbeFailed",
    "check_config",
    "check_settings",
    "ping_redis",
]
