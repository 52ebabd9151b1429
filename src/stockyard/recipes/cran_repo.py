"""A CRAN-like repository over HTTP: `src/contrib/PACKAGES` and the source tarballs.

CRAN, its mirrors, and local repositories made with `tools::write_PACKAGES` (drat,
miniCRAN, Posit Package Manager) share one layout: `src/contrib/PACKAGES` lists the current
version of every package (Debian control stanzas, the same format as DESCRIPTION), the
tarball is `src/contrib/<name>_<version>.tar.gz`, and older versions are under
`src/contrib/Archive/<name>/`. Nothing here runs R or package code.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import httpx

from stockyard.recipes.description import parse_description
from stockyard.recipes.errors import UpstreamError, UpstreamNotFound

CRAN_URL = "https://cran.r-project.org"
#: The most a PACKAGES file or a source tarball may be (CRAN's PACKAGES is about 8 MB).
MAX_BYTES = 100 << 20
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]$")
_PACKAGE_LINE = re.compile(r"^Package:[ \t]*(\S+)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class CranTarball:
    filename: str
    url: str
    data: bytes


def valid_name(name: str) -> bool:
    """An R package name: letters, digits and dots, starting with a letter (R's own rule)."""
    return bool(_NAME.match(name))


class CranRepository:
    """Reads package versions and tarballs from the repository at `base_url`."""

    def __init__(self, http: httpx.Client, base_url: str = CRAN_URL) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def _get(self, url: str) -> httpx.Response:
        try:
            response = self.http.get(url)
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"cannot reach the CRAN repository at {self.base_url}: {exc}",
                hint="Pass --cran-url with a reachable CRAN mirror or local repository (one "
                "that serves src/contrib/PACKAGES), or give the package's DESCRIPTION or "
                "source tarball instead of its name.",
            ) from exc
        if int(response.headers.get("content-length") or 0) > MAX_BYTES:
            raise UpstreamError(f"{url} is larger than {MAX_BYTES} bytes")
        return response

    def packages(self) -> str:
        """The text of `src/contrib/PACKAGES`."""
        url = f"{self.base_url}/src/contrib/PACKAGES"
        response = self._get(url)
        if response.status_code != 200:
            raise UpstreamError(
                f"{url} answered HTTP {response.status_code}",
                hint="Is --cran-url the root of a CRAN-like repository (with src/contrib/)?",
            )
        return response.content.decode("utf-8", "replace")

    def current_version(self, name: str) -> str:
        """The version PACKAGES lists for `name` (names are case-sensitive in R)."""
        text = self.packages()
        stanza = _stanza(text, name)
        if stanza is None:
            names = _PACKAGE_LINE.findall(text)
            close = difflib.get_close_matches(name, names, n=3) or [
                other for other in names if other.lower() == name.lower()
            ]
            raise UpstreamNotFound(
                f"the CRAN repository at {self.base_url} has no package named {name!r}",
                hint=f"Did you mean {', '.join(close)}?" if close else "Check the spelling.",
            )
        return parse_description(stanza.encode(), f"PACKAGES ({name})").get("Version")

    def tarball(self, name: str, version: str | None = None) -> CranTarball:
        """The source tarball of `name` (its current version, or `version` from the archive)."""
        current = self.current_version(name)
        wanted = version or current
        filename = f"{name}_{wanted}.tar.gz"
        urls = [f"{self.base_url}/src/contrib/{filename}"]
        if wanted != current:
            urls = [f"{self.base_url}/src/contrib/Archive/{name}/{filename}", *urls]
        for url in urls:
            response = self._get(url)
            if response.status_code == 200:
                return CranTarball(filename, url, response.content)
        raise UpstreamNotFound(
            f"{name} {wanted} is not in the CRAN repository at {self.base_url}",
            hint=f"Its current version is {current}.",
        )


def _stanza(text: str, name: str) -> str | None:
    """The PACKAGES stanza of `name`, found without parsing the other thousands."""
    match = re.search(rf"^Package:[ \t]*{re.escape(name)}[ \t]*$", text, re.MULTILINE)
    if match is None:
        return None
    end = re.search(r"\n[ \t]*\n", text[match.start() :])
    return text[match.start() : match.start() + end.start()] if end else text[match.start() :]
