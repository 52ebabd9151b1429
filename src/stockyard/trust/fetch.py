"""Where a verifier reads a channel from: a local channel directory or an http(s) URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from stockyard.trust.canonical import decode_json
from stockyard.trust.errors import TrustError

#: A verifier reads metadata and whole repodata documents; refuse anything absurdly large.
MAX_DOCUMENT_BYTES = 2 << 30


class Source(Protocol):
    def get(self, name: str) -> bytes | None:
        """The file's bytes, None when it does not exist."""
        ...

    def where(self, name: str) -> str:
        """The file's path or URL, for messages."""
        ...

    def subdirs(self) -> list[str]:
        """The subdirs to check when the caller names none."""
        ...


@dataclass(slots=True)
class LocalSource:
    directory: Path

    def get(self, name: str) -> bytes | None:
        try:
            return (self.directory / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def where(self, name: str) -> str:
        return str(self.directory / name)

    def subdirs(self) -> list[str]:
        return sorted(
            entry.name
            for entry in self.directory.iterdir()
            if entry.is_dir() and (entry / "repodata.json").is_file()
        )


@dataclass(slots=True)
class HttpSource:
    base: str
    client: httpx.Client = field(
        default_factory=lambda: httpx.Client(follow_redirects=True, timeout=60.0)
    )

    def get(self, name: str) -> bytes | None:
        url = self.where(name)
        try:
            response = self.client.get(url)
        except httpx.HTTPError as exc:
            raise TrustError(f"cannot fetch {url}: {exc}", hint="Check the URL.") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TrustError(f"{url}: HTTP {response.status_code}", hint="Check the URL.")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise TrustError(f"{url}: larger than {MAX_DOCUMENT_BYTES} bytes")
        return response.content

    def where(self, name: str) -> str:
        return f"{self.base.rstrip('/')}/{name}"

    def subdirs(self) -> list[str]:
        """The subdirs channeldata.json names (every channel has noarch)."""
        data = self.get("channeldata.json")
        listed: Any = []
        if data is not None:
            try:
                listed = decode_json(data).get("subdirs", [])
            except (ValueError, AttributeError):
                listed = []
        names = {name for name in listed if isinstance(name, str)} | {"noarch"}
        return sorted(names)


def open_source(location: str | Path) -> Source:
    text = str(location)
    if text.startswith(("http://", "https://")):
        return HttpSource(text)
    directory = Path(location)
    if not directory.is_dir():
        raise TrustError(
            f"{location} is neither a channel directory nor an http(s) URL",
            hint="Pass a channel directory or its URL, e.g. http://host:8000/main.",
        )
    return LocalSource(directory)
