"""The web UI's Jinja environment, its filters, and its two static files (a stylesheet and the
script of the copy buttons).

Autoescaping is on for every template: package metadata comes from uploaded artifacts and is
untrusted (a summary may hold `<script>`). URLs from metadata become links only when they are
http(s), so a `javascript:` home page stays inert text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined

from stockyard import __version__

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def filesize(size: Any) -> str:
    """`1536` -> `1.5 KiB` (bytes below 1 KiB stay exact)."""
    if not isinstance(size, int):
        return ""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def _moment(ms: Any) -> datetime | None:
    if not isinstance(ms, int | float) or isinstance(ms, bool):
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def datetime_ms(ms: Any) -> str:
    """Milliseconds since the epoch -> `2024-05-01 12:34 UTC` (empty when unknown)."""
    moment = _moment(ms)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def iso_ms(ms: Any) -> str:
    """Milliseconds since the epoch -> ISO 8601, for `<time datetime=...>`."""
    moment = _moment(ms)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else ""


def text(value: Any) -> str:
    """A metadata field shown as text: strings as they are, anything else (lists, numbers from
    odd about.json files) left out rather than shown as a Python repr."""
    return value.strip() if isinstance(value, str) else ""


def web_url(value: Any) -> str | None:
    """An http(s) URL from package metadata, or None (no `javascript:` or `data:` links)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if any(ord(c) < 0x21 or c in '\x7f"<>\\`' for c in url):
        return None  # whitespace or characters no URL has: not something to link to
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in {"http", "https"} and parts.netloc else None


def first_text(value: Any) -> str:
    """A metadata field that may be a string or a list of strings (about.json's `source_url`):
    the first non-empty string."""
    if isinstance(value, list):
        return next((text(item) for item in value if text(item)), "")
    return text(value)


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    #: Content hash: the ETag, and the `?v=` of the link so a new release busts caches.
    digest: str
    media_type: str


#: The stylesheet (the name predates the script).
Stylesheet = StaticFile


def _load(name: str, media_type: str) -> StaticFile:
    body = files("stockyard.server.ui").joinpath(f"static/{name}").read_bytes()
    return StaticFile(body, hashlib.sha256(body).hexdigest()[:16], media_type)


def load_stylesheet() -> StaticFile:
    return _load("style.css", "text/css; charset=utf-8")


def load_script() -> StaticFile:
    """The copy buttons' script: the only script of the UI, served from /ui/static (the CSP
    allows `script-src 'self'`, nothing inline). An installation without the file (package
    data left out) serves pages without it: an empty body and digest, no `<script>` tag, the
    copy buttons stay hidden."""
    try:
        return _load("copy.js", "text/javascript; charset=utf-8")
    except FileNotFoundError:
        return StaticFile(b"", "", "text/javascript; charset=utf-8")


def create_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("stockyard.server.ui", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        filesize=filesize,
        datetime_ms=datetime_ms,
        iso_ms=iso_ms,
        text=text,
        web_url=web_url,
        first_text=first_text,
    )
    env.globals["stockyard_version"] = __version__
    return env


__all__ = [
    "StaticFile",
    "Stylesheet",
    "create_environment",
    "datetime_ms",
    "filesize",
    "first_text",
    "iso_ms",
    "load_script",
    "load_stylesheet",
    "text",
    "web_url",
]
