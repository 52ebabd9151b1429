"""Secrets by reference: settings that carry a credential are never written in the settings file.

A field is secret when its type carries the `SECRET` marker (`db_url`, `broker_url`,
`purge_webhook_url`; a future field opts in the same way). Such a field may be given:

- in the settings file, by reference only (TOML inline tables)::

      db_url = { env = "STOCKYARD_PG_URL" }        # the value of that environment variable
      broker_url = { file = "/run/secrets/redis" }  # the file's text, white space trimmed

  A relative `file` is relative to the settings file. A URL with a password written inline in
  the file is refused, with the way to reference it instead: the file is usually readable by
  more people and tools (config management, backups, `cat` in a support session) than the
  service's environment or a secrets file.
- in the environment: `STOCKYARD_DB_URL=...` inline, or `STOCKYARD_DB_URL_FILE=/path` (the
  Docker secrets / systemd `LoadCredential=` convention: the file's text is the value);
- as a flag, inline.

References are resolved once, when the settings are loaded; an unset or empty variable, or a
missing, unreadable or empty file, is a `ConfigError` naming the reference (never its value).
Secret values are masked (`postgresql://user:***@host/db`) in `repr(settings)`, in error
messages and in `stockyard check-config` output.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
from msgspec import Meta

from stockyard.types.errors import ConfigError

#: Marks a settings field as secret: `db_url: Annotated[str, SECRET] | None = None`.
SECRET: Final = Meta(extra={"secret": True})
#: What a masked secret (or the password part of a URL) is shown as.
MASK: Final = "***"
#: Suffix of the variable naming a file that holds a secret (`STOCKYARD_DB_URL_FILE`).
FILE_SUFFIX: Final = "_FILE"
#: A secret file larger than this is certainly not a secret (a wrong path): refused unread.
MAX_SECRET_BYTES: Final = 64 * 1024
#: Query parameters that carry a password in database and broker URLs (libpq's `password=`).
_PASSWORD_PARAMS: Final = frozenset({"password", "passwd", "secret", "token"})


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference read from the settings file, resolved by `resolve_secrets`."""

    kind: Literal["env", "file"]
    #: The variable's name, or the file's path (absolute: made so against the settings file).
    target: str
    #: `db_url in /etc/stockyard/stockyard.toml`, for messages.
    where: str

    def describe(self) -> str:
        return f"${self.target}" if self.kind == "env" else f"file {self.target}"


def secret_fields(struct_type: type[msgspec.Struct]) -> frozenset[str]:
    """The fields of `struct_type` whose type carries the `SECRET` marker."""
    info = msgspec.inspect.type_info(struct_type)
    assert isinstance(info, msgspec.inspect.StructType)
    return frozenset(field.name for field in info.fields if _is_secret(field.type))


def _is_secret(info: msgspec.inspect.Type) -> bool:
    if isinstance(info, msgspec.inspect.Metadata):
        return bool((info.extra or {}).get("secret")) or _is_secret(info.type)
    if isinstance(info, msgspec.inspect.UnionType):
        return any(_is_secret(member) for member in info.types)
    return False


# --- the settings file ----------------------------------------------------------------------


def read_file_secrets(raw: dict[str, Any], path: Path, secret: frozenset[str]) -> dict[str, Any]:
    """The values of a settings file with each reference turned into a `SecretRef`. Refuses a
    reference on a field that is not secret, a malformed reference, and a password written
    inline in any URL of the file."""
    for key, value in raw.items():
        where = f"{key} in {path}"
        if isinstance(value, dict):
            if key not in secret:
                raise ConfigError(
                    f"{where}: only secret settings can be given by reference",
                    hint=f"Write the value itself; references are for {', '.join(sorted(secret))}.",
                )
            raw[key] = _reference(value, where, path.parent)
        elif isinstance(value, str) and has_password(value):
            raise _inline_password(key, where, secret)
    return raw


def _reference(table: dict[str, Any], where: str, base: Path) -> SecretRef:
    example = '{ env = "VARIABLE" } or { file = "/run/secrets/NAME" }'
    if len(table) != 1 or next(iter(table)) not in ("env", "file"):
        raise ConfigError(
            f"{where}: a reference has exactly one key, env or file (got "
            f"{', '.join(sorted(table)) or 'none'})",
            hint=f"Write {example}.",
        )
    kind, target = next(iter(table.items()))
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"{where}: the {kind} of a reference must be a non-empty string")
    if kind == "file":
        return SecretRef("file", str(base / Path(target).expanduser()), where)
    return SecretRef("env", target, where)


def _inline_password(key: str, where: str, secret: frozenset[str]) -> ConfigError:
    variable = f"STOCKYARD_{key.upper()}"
    if key in secret:
        return ConfigError(
            f"{where} has a password written in the settings file",
            hint=f'Reference it instead: {key} = {{ env = "{key.upper()}" }} (a variable set in '
            f'the service\'s environment), {key} = {{ file = "/run/secrets/{key}" }}, or set '
            f"{variable} or {variable}{FILE_SUFFIX} and leave {key} out of the file.",
        )
    hint = "Remove the password: this setting is not secret and is shown in logs and reports."
    if key.startswith("s3_") or key == "storage_url":
        hint = "S3 credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not settings."
    return ConfigError(f"{where} has a password written in it", hint=hint)


# --- resolving ------------------------------------------------------------------------------


def resolve_secrets(
    values: dict[str, Any], origin: dict[str, str], env: Mapping[str, str], secret: frozenset[str]
) -> None:
    """In place: each `STOCKYARD_<KEY>_FILE` variable of a secret field, then each `SecretRef`
    from the file, becomes the secret's value."""
    for key in sorted(secret):
        variable = f"STOCKYARD_{key.upper()}"
        file_variable = variable + FILE_SUFFIX
        if not env.get(file_variable):
            continue
        if variable in env:
            raise ConfigError(
                f"both ${variable} and ${file_variable} are set",
                hint="Set one of them: the value itself, or the path of a file holding it.",
            )
        values[key] = _read_secret_file(Path(env[file_variable]), f"${file_variable}")
        origin[key] = f"${file_variable}"
    for key, value in values.items():
        if isinstance(value, SecretRef):
            values[key] = _resolve(value, env)


def _resolve(ref: SecretRef, env: Mapping[str, str]) -> str:
    if ref.kind == "file":
        return _read_secret_file(Path(ref.target), ref.where)
    if ref.target not in env:
        raise ConfigError(
            f"{ref.where} refers to ${ref.target}, which is not set",
            hint=f"Set {ref.target} in the environment of the service (systemd: Environment= or "
            'EnvironmentFile=), or reference a file instead: { file = "/run/secrets/NAME" }.',
        )
    value = env[ref.target].strip()
    if not value:
        raise ConfigError(
            f"{ref.where} refers to ${ref.target}, which is empty",
            hint=f"Put the value in {ref.target}, or remove the setting to use its default.",
        )
    return value


def _read_secret_file(path: Path, where: str) -> str:
    """The text of a secret file, trimmed (files usually end with a newline)."""
    described = f"{where}: the secret file {str(path)!r}"
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_SECRET_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{described} does not exist",
            hint="Check the path; with Docker secrets they are under /run/secrets/, with systemd "
            "LoadCredential= under $CREDENTIALS_DIRECTORY.",
        ) from None
    except PermissionError:
        raise ConfigError(
            f"{described} is not readable by this user (uid {os.getuid()})",
            hint="Give the service's user read access (chgrp stockyard FILE; chmod 0640 FILE).",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{described} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise ConfigError(
            f"{described} is larger than {MAX_SECRET_BYTES // 1024} KiB: not a secret value",
            hint="Point the reference at the file that holds only the value.",
        )
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{described} is not UTF-8 text") from None
    if not text:
        raise ConfigError(f"{described} is empty", hint="Write the value into the file.")
    return text


# --- masking --------------------------------------------------------------------------------


def has_password(value: str) -> bool:
    """Whether a URL carries a password: `scheme://user:PASSWORD@host` or `?password=...`."""
    if "://" not in value:
        return False
    try:
        parts = urlsplit(value)
        return bool(parts.password) or any(
            name.lower() in _PASSWORD_PARAMS for name, _ in parse_qsl(parts.query)
        )
    except ValueError:
        return False


def mask_secret(value: str) -> str:
    """A secret as it may be shown: a URL with its password (userinfo or query) replaced by
    `***`; anything that is not a URL entirely masked."""
    if "://" not in value:
        return MASK
    try:
        parts = urlsplit(value)
        netloc = parts.netloc
        if parts.password:
            userinfo, _, host = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:{MASK}@{host}"
        query = parts.query
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in _PASSWORD_PARAMS for name, _ in pairs):
            masked = [(n, MASK if n.lower() in _PASSWORD_PARAMS else v) for n, v in pairs]
            query = urlencode(masked, safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return MASK


def secret_parts(values: Iterable[str | None]) -> list[str]:
    """What must never be shown of these secret values: each one whole, and each password."""
    parts: list[str] = []
    for value in values:
        if not value:
            continue
        parts.append(value)
        if "://" in value:
            try:
                split = urlsplit(value)
            except ValueError:
                continue
            if split.password:
                parts.append(split.password)
            parts += [v for n, v in parse_qsl(split.query) if n.lower() in _PASSWORD_PARAMS and v]
    # Longest first, so a whole URL is masked before the password inside it.
    return sorted(set(parts), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` (an error message from a driver or library) with every secret part masked."""
    for part in secrets:
        if part in text:
            text = text.replace(part, mask_secret(part) if "://" in part else MASK)
    return text


def masked_items(struct: msgspec.Struct, secret: frozenset[str]) -> Iterator[tuple[str, Any]]:
    """(field, value) of a Struct with secret fields masked: for `__repr__`/`__rich_repr__`."""
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if name in secret and isinstance(value, str):
            value = mask_secret(value)
        yield name, value


__all__ = [
    "FILE_SUFFIX",
    "MASK",
    "SECRET",
    "SecretRef",
    "has_password",
    "mask_secret",
    "masked_items",
    "read_file_secrets",
    "resolve_secrets",
    "scrub",
    "secret_fields",
    "secret_parts",
]
