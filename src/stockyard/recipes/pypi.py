"""PyPI over HTTP: the JSON API, PEP 658 `.metadata` files, and ranged reads of files.

Nothing here runs upstream code. Everything goes through one `httpx.Client`, so tests inject a
transport that replays recorded responses and the CLI uses a real one.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from typing import Any

import httpx

from stockyard.recipes.errors import UpstreamError, UpstreamNotFound
from stockyard.recipes.names import normalize

PYPI_URL = "https://pypi.org"
USER_AGENT = "stockyard-recipe (+https://github.com/stockyard)"
#: The most an sdist read may download: a bigger one is refused rather than filling memory.
MAX_SDIST_BYTES = 200 << 20
#: Where `PyPIClient.project` notes the URL its document came from (not a PyPI field name).
DOCUMENT_URL = "stockyard:document_url"


@dataclass(frozen=True)
class DistFile:
    """One file of a release, as the JSON API lists it."""

    filename: str
    url: str
    sha256: str
    size: int
    packagetype: str
    yanked: bool

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def is_sdist(self) -> bool:
        return self.packagetype == "sdist" or self.filename.endswith((".tar.gz", ".zip"))


def new_http_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        transport=transport,
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(30.0),
        follow_redirects=True,
    )


class PyPIClient:
    """Reads what recipes need from a PyPI-compatible index."""

    def __init__(self, http: httpx.Client, base_url: str = PYPI_URL) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._projects: dict[str, dict[str, Any]] = {}

    def _get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = self.http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"cannot reach {url}: {exc}") from exc
        return response

    def project(self, name: str) -> dict[str, Any]:
        """The JSON API document of a project (every release and its files)."""
        key = normalize(name)
        if key in self._projects:  # `recipe update` reads one project up to three times
            return self._projects[key]
        url = f"{self.base_url}/pypi/{key}/json"
        response = self._get(url)
        if response.status_code == 404:
            raise UpstreamNotFound(f"PyPI has no project named {name!r}")
        if response.status_code != 200:
            raise UpstreamError(f"{url} answered HTTP {response.status_code}")
        import msgspec

        # msgspec, not `response.json()`: big projects' documents run to megabytes (12 MB for
        # pydantic-core) and it decodes them faster.
        try:
            document = msgspec.json.decode(response.content)
        except msgspec.DecodeError as exc:
            raise UpstreamError(f"{url} did not answer JSON") from exc
        if not isinstance(document, dict):
            raise UpstreamError(f"{url} did not answer a JSON object")
        # Mirrors of PyPI may list files by relative URL: `release_files` resolves the ones it
        # returns against this. Resolving all of them here cost pydantic-core's 15,000 files
        # half a second of CPU per run.
        document[DOCUMENT_URL] = str(response.url)
        self._projects[key] = document
        return document

    def core_metadata(self, wheel: DistFile) -> bytes | None:
        """The PEP 658 `.metadata` file of a wheel, None when the index has none."""
        response = self._get(wheel.url + ".metadata")
        if response.status_code != 200:
            return None
        return response.content

    def tail(self, url: str, size: int, length: int) -> bytes:
        """The last `length` bytes of a file of `size` bytes (all of it when smaller)."""
        start = max(size - length, 0)
        response = self._get(url, headers={"Range": f"bytes={start}-"})
        if response.status_code == 206:
            return response.content
        if response.status_code == 200:  # the server ignored the range
            return response.content[start:]
        raise UpstreamError(f"{url} answered HTTP {response.status_code}")

    @property
    def simple_url(self) -> str:
        """The PEP 503 simple index beside the JSON API (pip installs build requirements there)."""
        return f"{self.base_url}/simple/"

    def sdist_bytes(self, sdist: DistFile) -> bytes:
        """The whole sdist (refused above `MAX_SDIST_BYTES`)."""
        if sdist.size > MAX_SDIST_BYTES:
            raise UpstreamError(f"{sdist.filename} is larger than {MAX_SDIST_BYTES} bytes")
        response = self._get(sdist.url)
        if response.status_code != 200:
            raise UpstreamError(f"{sdist.url} answered HTTP {response.status_code}")
        return response.content

    def sdist_members(self, sdist: DistFile, wanted: set[str]) -> dict[str, bytes]:
        """Top-level files of an sdist (`pyproject.toml`, `PKG-INFO`), read without unpacking."""
        return members_of(self.sdist_bytes(sdist), sdist.filename, wanted)


def members_of(data: bytes, filename: str, wanted: set[str]) -> dict[str, bytes]:
    """Top-level files of an sdist archive; reading stops once every wanted file was seen."""
    found: dict[str, bytes] = {}
    if filename.endswith(".zip"):
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if _top_level(info.filename) in wanted:
                    found[_top_level(info.filename)] = archive.read(info)
        return found
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for member in archive:
                name = _top_level(member.name)
                if name in wanted and member.isfile() and name not in found:
                    handle = archive.extractfile(member)
                    found[name] = handle.read() if handle else b""
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UpstreamError(f"{filename} is not a readable sdist: {exc}") from exc
    return found


def _top_level(name: str) -> str:
    """`pkg-1.0/pyproject.toml` -> `pyproject.toml`; deeper paths keep their sub-path."""
    parts = name.split("/", 1)
    return parts[1] if len(parts) == 2 else ""


def release_files(project: dict[str, Any], version: str) -> list[DistFile]:
    """The files of one release; refuses a missing or entirely yanked release."""
    releases: dict[str, list[dict[str, Any]]] = project.get("releases") or {}
    name = project.get("info", {}).get("name", "?")
    if version not in releases:
        raise UpstreamNotFound(
            f"{name} has no release {version}",
            hint=f"Newest: {project.get('info', {}).get('version', '?')}.",
        )
    base = str(project.get(DOCUMENT_URL) or "")
    files = [_dist_file(entry, base) for entry in releases[version]]
    if not files:
        raise UpstreamError(f"{name} {version} has no files on PyPI")
    if all(file.yanked for file in files):
        raise UpstreamError(
            f"{name} {version} is yanked", hint="Pass a version that is not yanked."
        )
    return [file for file in files if not file.yanked]


def _dist_file(entry: dict[str, Any], base: str) -> DistFile:
    from urllib.parse import urljoin

    url = str(entry["url"])
    return DistFile(
        filename=str(entry["filename"]),
        url=urljoin(base, url) if base else url,
        sha256=str(entry.get("digests", {}).get("sha256", "")),
        size=int(entry.get("size") or 0),
        packagetype=str(entry.get("packagetype", "")),
        yanked=bool(entry.get("yanked", False)),
    )


def newest_version(project: dict[str, Any], pre: bool = False) -> str:
    """The newest release that is not yanked (pre-releases only when asked)."""
    from packaging.version import InvalidVersion, Version

    candidates: dict[Version, str] = {}
    for version, files in (project.get("releases") or {}).items():
        try:
            parsed = Version(version)
        except InvalidVersion:
            continue
        if files and not all(f.get("yanked") for f in files) and (pre or not parsed.is_prerelease):
            candidates[parsed] = version
    if not candidates:
        raise UpstreamError(f"{project.get('info', {}).get('name', '?')} has no usable release")
    return candidates[max(candidates)]
