"""The web UI's Jinja environment, its filters, and its one stylesheet.

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
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in {"http", "https"} and parts.netloc else None


@dataclass(frozen=True, slots=True)
class Stylesheet:
    body: bytes
    #: Content hash: the ETag, and the `?v=` of the link so a new release busts caches.
    digest: str


def load_stylesheet() -> Stylesheet:
    body = files("stockyard.server.ui").joinpath("static/style.css").read_bytes()
    return Stylesheet(body, hashlib.sha256(body).hexdigest()[:16])


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
        filesize=filesize, datetime_ms=datetime_ms, iso_ms=iso_ms, text=text, web_url=web_url
    )
    env.globals["stockyard_version"] = __version__
    return env


__all__ = [
    "Stylesheet",
    "create_environment",
    "datetime_ms",
    "filesize",
    "iso_ms",
    "load_stylesheet",
    "text",
    "web_url",
]
