"""`Settings`: every knob of a Stockyard deployment, in one typed, immutable object.

Sources, lowest precedence first: the defaults below, a TOML file (`--config FILE` or
`STOCKYARD_CONFIG`), `STOCKYARD_<FIELD>` environment variables, then command-line flags. The
result is passed explicitly to whatever needs it; nothing reads the environment later.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from stockyard.config.secrets import (
    SECRET,
    mask_secret,
    masked_items,
    read_file_secrets,
    resolve_secrets,
    secret_fields,
)
from stockyard.types.errors import ConfigError, StockyardError

ENV_PREFIX: Final = "STOCKYARD_"
#: Names the settings file when `--config` is not given.
CONFIG_ENV: Final = "STOCKYARD_CONFIG"

GIB: Final = 1024**3


class ScheduledMirror(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A channel `stockyard serve` keeps in sync with an upstream (`[[mirrors]]` in the settings
    file): `stockyard mirror UPSTREAM --server-channel CHANNEL` with these filters, every
    `every` (docs/howto-mirror.md, "Scheduled mirrors")."""

    channel: str
    upstream: str
    #: How often: `1h`, `30m`, `1d` or seconds (at least 60).
    every: str | float = "1h"
    subdirs: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    with_dependencies: bool = False
    latest: Annotated[int, Meta(ge=1)] | None = None
    newer_than: str | None = None
    older_than: str | None = None
    license_allow: tuple[str, ...] = ()
    license_deny: tuple[str, ...] = ()
    license_unknown: Literal["allow", "deny"] = "allow"
    unpatched: bool = False
    jobs: Annotated[int, Meta(ge=1, le=64)] = 4

    @property
    def seconds(self) -> float:
        return parse_duration(self.every)


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Server and catalog settings. Field names are also the TOML keys and, upper-cased after
    `STOCKYARD_`, the environment variable names (`STOCKYARD_PORT=9000`)."""

    #: Holds `catalog.db` and `channels/<name>/` (each channel's published tree).
    data_dir: str = "stockyard-data"
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8000
    #: uvicorn worker processes.
    workers: Annotated[int, Meta(ge=1, le=256)] = 1
    #: Catalog database; None: SQLite in `<data_dir>/catalog.db`. Secret: in the file only by
    #: reference (`{ env = "VAR" }`, `{ file = "PATH" }`; config/secrets.py).
    db_url: Annotated[str, SECRET] | None = None
    #: Cache-Control max-age (seconds) of repodata, the shard index and channeldata.
    repodata_max_age: Annotated[int, Meta(ge=0)] = 60
    #: Largest accepted upload body; bigger ones get 413 and are not stored.
    max_upload_bytes: Annotated[int, Meta(ge=1)] = 2 * GIB
    #: The URL clients reach this server at (behind a proxy); used in printed commands and
    #: download links. None: http://<host>:<port>.
    public_url: str | None = None
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Seconds an upload waits for the channel's publish lock before giving up with 503.
    lock_timeout: Annotated[float, Meta(gt=0)] = 60.0
    #: Seconds an upload body may go without a byte arriving; then 408 and the spooled part is
    #: deleted (a stalled client never holds a spool file or a connection for long).
    upload_idle_timeout: Annotated[float, Meta(gt=0)] = 60.0
    #: Behind nginx: an `internal` location aliasing `<data_dir>/channels/` (e.g.
    #: "/_stockyard_files/"). Files the app has authorized are then sent by nginx through
    #: `X-Accel-Redirect` instead of by Python. None: the app sends files itself.
    accel_redirect: str | None = None
    #: Seconds a channel row (name, visibility) is reused by the file routes, so anonymous reads
    #: of public channels need no catalog query. Tokens are never cached. 0: no cache.
    channel_cache_seconds: Annotated[float, Meta(ge=0, le=60)] = 1.0
    #: PEM certificate chain and private key: the server itself speaks HTTPS (both or neither).
    tls_cert: str | None = None
    tls_key: str | None = None
    #: Serve HTTP/2 as well as HTTP/1.1 (CEP 16: SHOULD, for the many small shard requests).
    #: Runs the app on Granian instead of uvicorn (`pip install 'stockyard[http2]'`); with TLS,
    #: clients pick h2 through ALPN, without it h2c with prior knowledge.
    http2: bool = False
    #: Channels synced from an upstream on a schedule (`[[mirrors]]` tables in the file).
    mirrors: tuple[ScheduledMirror, ...] = ()
    #: The Sigstore trust root CEP 27 attestations are verified against: a `trusted_root.json`
    #: (protobuf-specs JSON, or a ClientTrustConfig). None: Sigstore's public-good instance.
    attestation_trust_root: str | None = None
    #: Where channels' files live: None (or `file:///...`) keeps them under
    #: `<data_dir>/channels/`; `s3://BUCKET/PREFIX` puts them in a bucket, and `data_dir` then
    #: holds only local caches and spools (docs/deploy-scale-out.md).
    storage_url: str | None = None
    #: Endpoint of an S3-compatible service (MinIO, Ceph, moto...). None: `AWS_ENDPOINT_URL`,
    #: else AWS. Credentials come from the standard `AWS_*` variables, never from settings.
    s3_endpoint_url: str | None = None
    #: With S3 storage: answer artifact downloads with a 302 to a presigned URL (with the
    #: caching headers the app would send) instead of streaming them through the app.
    download_redirect: bool = False
    #: Celery broker (`redis://host:6379/0`); None: jobs run in-process (the embedded default).
    broker_url: Annotated[str, SECRET] | None = None
    #: After each publish, POST the URLs it changed (JSON) here, for CDN purges.
    purge_webhook_url: Annotated[str, SECRET] | None = None

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def catalog_url(self) -> str:
        if self.db_url:
            return self.db_url
        from stockyard.catalog import sqlite_url

        return sqlite_url(self.data_path / "catalog.db")

    @property
    def base_url(self) -> str:
        """Where clients reach the server, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in {"0.0.0.0", "::", ""}:
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    # Secrets never show in a repr, a log line or a traceback's locals (config/secrets.py).
    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in masked_items(self, SECRET_FIELDS))
        return f"Settings({shown})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return list(masked_items(self, SECRET_FIELDS))

    @classmethod
    def from_json(cls, data: bytes | str) -> Settings:
        return msgspec.json.decode(data, type=cls)


_FIELDS: Final = frozenset(Settings.__struct_fields__)
#: Fields marked `SECRET`: given by reference in the file, masked when shown.
SECRET_FIELDS: Final = secret_fields(Settings)

_size_re = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS: Final = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_duration_re = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_DURATION_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_size(value: str | int) -> int:
    """`2GiB`, `500MB`, `1048576` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _size_re.fullmatch(str(value))
    unit = (match.group(2) or "").lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ConfigError(
            f"invalid size {value!r}", hint="Use a number of bytes or e.g. 500MB, 2GiB."
        )
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_duration(value: str | float) -> float:
    """`30d`, `12h`, `90m`, `45s`, `3600` -> seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _duration_re.fullmatch(str(value))
    if not match:
        raise ConfigError(
            f"invalid duration {value!r}", hint="Use a number with a unit: 45s, 90m, 12h, 30d, 2w."
        )
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise ConfigError(f"duration {value!r} must be positive")
    return seconds


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"settings file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {str(path)!r} is not valid TOML: {exc}") from None
    # A `[server]` table is accepted as well as top-level keys, so one file can grow sections.
    server = raw.pop("server", None)
    if isinstance(server, dict):
        raw.update(server)
    for key in raw:
        if key not in _FIELDS:
            raise ConfigError(
                f"unknown setting {key!r} in {path}",
                hint=f"Known settings: {', '.join(sorted(_FIELDS))}.",
            )
    data_dir = raw.get("data_dir")
    if isinstance(data_dir, str) and not Path(data_dir).is_absolute():
        raw["data_dir"] = str(path.parent / data_dir)  # relative to the file, not the cwd
    return raw


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge defaults, the TOML file, `STOCKYARD_*` variables and `overrides` (flags; None values
    are ignored) into a validated `Settings`. Any invalid value raises ConfigError naming it."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    file_name = config_file if config_file is not None else env.get(CONFIG_ENV)
    if file_name:
        path = Path(file_name)
        for key, value in read_file_secrets(_read_file(path), path, SECRET_FIELDS).items():
            values[key] = value
            origin[key] = f"{key} in {path}"
    for key in _FIELDS:
        name = ENV_PREFIX + key.upper()
        if name in env:
            values[key] = env[name]
            origin[key] = f"${name}"
    resolve_secrets(values, origin, env, SECRET_FIELDS)  # STOCKYARD_<KEY>_FILE, file references
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown setting {key!r}")
        if value is not None:
            values[key] = value
            origin[key] = f"--{key.replace('_', '-')}"
    for key in (
        "db_url",
        "public_url",
        "accel_redirect",
        "tls_cert",
        "tls_key",
        "attestation_trust_root",
        "storage_url",
        "s3_endpoint_url",
        "broker_url",
        "purge_webhook_url",
    ):
        if values.get(key) == "":
            values[key] = None  # an empty variable means "unset"
    if "max_upload_bytes" in values:
        try:
            values["max_upload_bytes"] = parse_size(values["max_upload_bytes"])
        except ConfigError as exc:
            raise ConfigError(f"{origin['max_upload_bytes']}: {exc.message}", exc.hint) from None
    try:
        settings = msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = re.search(r"at `\$\.(\w+)([^`]*)`", text)
        bad_key = match.group(1) if match else None
        where = origin.get(bad_key, bad_key) if bad_key else "settings"
        if match and match.group(2):  # inside a table: say where (`mirrors[0].include`)
            where += f" ({bad_key}{match.group(2)})"
        raise ConfigError(f"invalid value for {where}: {text.split(' - at ')[0]}") from None
    if settings.public_url and not settings.public_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"invalid value for {origin.get('public_url', 'public_url')}: "
            f"{settings.public_url!r} is not an http(s) URL",
            hint="Use e.g. https://conda.example.com",
        )
    _check_tls(settings, origin)
    _check_scale_out(settings, origin)
    _check_mirrors(settings.mirrors, origin.get("mirrors", "mirrors"))
    accel = settings.accel_redirect
    if accel is not None and not (accel.startswith("/") and accel.endswith("/")):
        raise ConfigError(
            f"invalid value for {origin.get('accel_redirect', 'accel_redirect')}: {accel!r} must "
            "start and end with '/'",
            hint="Use the nginx internal location, e.g. /_stockyard_files/",
        )
    return settings


def _check_tls(settings: Settings, origin: Mapping[str, str]) -> None:
    """Both TLS files or neither, and each one readable now rather than at the first request."""
    if bool(settings.tls_cert) != bool(settings.tls_key):
        given = "tls_cert" if settings.tls_cert else "tls_key"
        raise ConfigError(
            f"{origin.get(given, given)} is set but its pair is not",
            hint="Give both --tls-cert (PEM certificate chain) and --tls-key (PEM private key).",
        )
    for key in ("tls_cert", "tls_key"):
        value = getattr(settings, key)
        if value and not Path(value).is_file():
            raise ConfigError(
                f"invalid value for {origin.get(key, key)}: {value!r} is not a readable file",
                hint="Give the path of a PEM file.",
            )


def _check_scale_out(settings: Settings, origin: Mapping[str, str]) -> None:
    """Storage, broker and webhook URLs are checked at load, not at the first request."""
    if settings.storage_url is not None:
        from stockyard.storage.urls import parse_storage_url

        where = origin.get("storage_url", "storage_url")
        try:
            location = parse_storage_url(settings.storage_url)
        except StockyardError as exc:
            raise ConfigError(f"invalid value for {where}: {exc.message}", exc.hint) from None
        if location.scheme == "s3" and settings.accel_redirect:
            raise ConfigError(
                f"{where} puts files in a bucket, but accel_redirect has nginx send them from "
                "local disk",
                hint="Unset accel_redirect (or set download_redirect = true to send artifact "
                "downloads to the bucket).",
            )
    urls = {
        "s3_endpoint_url": (("http://", "https://"), "http://minio.internal:9000"),
        "broker_url": (("redis://", "rediss://"), "redis://127.0.0.1:6379/0"),
        "purge_webhook_url": (("http://", "https://"), "https://cdn-purger.internal/purge"),
    }
    for key, (schemes, example) in urls.items():
        value = getattr(settings, key)
        if value is not None and not value.startswith(schemes):
            raise ConfigError(
                f"invalid value for {origin.get(key, key)}: {mask_secret(value)!r} is not a "
                f"{' or '.join(s.removesuffix('://') for s in schemes)} URL",
                hint=f"Use e.g. {example}",
            )


def _check_mirrors(mirrors: tuple[ScheduledMirror, ...], where: str) -> None:
    """Each scheduled mirror names a valid channel (once), an upstream and a schedule."""
    from stockyard.types.errors import InvalidIdentifier
    from stockyard.types.identifiers import check_channel_name

    seen: set[str] = set()
    for index, mirror in enumerate(mirrors):
        label = f"{where} [{index}] (channel {mirror.channel!r})"
        try:
            check_channel_name(mirror.channel)
        except InvalidIdentifier as exc:
            raise ConfigError(f"invalid value for {label}: {exc.message}") from None
        if mirror.channel in seen:
            raise ConfigError(f"{label}: the channel is mirrored twice", hint="One upstream each.")
        seen.add(mirror.channel)
        try:
            seconds = mirror.seconds
        except ConfigError as exc:
            raise ConfigError(f"invalid value for {label} every: {exc.message}", exc.hint) from None
        if seconds < 60:
            raise ConfigError(f"{label}: every must be at least 60 seconds, not {mirror.every!r}")
        scheme = mirror.upstream.partition("://")[0] if "://" in mirror.upstream else ""
        if scheme not in ("http", "https", "file") and not Path(mirror.upstream).is_absolute():
            raise ConfigError(
                f"invalid value for {label} upstream: {mirror.upstream!r}",
                hint="Use an http(s):// channel URL or an absolute path to a channel folder.",
            )
