"""A PyPI-like index in a directory, served over HTTP on 127.0.0.1 by the tests.

It holds what Stockyard and pip read: the JSON API (`/pypi/NAME/json`), the PEP 503 simple
index (`/simple/NAME/`) and the files (`/files/FILENAME`). Distributions are written by the
tests themselves (tiny sdists and wheels), so nothing comes from the internet.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import tarfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from tests.trust.http_serve import serve_directory


def sdist_bytes(name: str, version: str, files: dict[str, str]) -> bytes:
    """A .tar.gz with every file under `{name}-{version}/`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def wheel_bytes(
    name: str,
    version: str,
    files: dict[str, str],
    requires: list[str],
    extras: dict[str, list[str]] | None = None,
) -> bytes:
    """A pure wheel (`py3-none-any`) holding `files`, with a valid dist-info and RECORD."""
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: MIT\n"
    metadata += "".join(f"Requires-Dist: {line}\n" for line in requires)
    for extra, lines in (extras or {}).items():
        metadata += f"Provides-Extra: {extra}\n"
        for line in lines:
            requirement, _, marker = line.partition(";")
            condition = f"({marker.strip()}) and " if marker.strip() else ""
            metadata += f'Requires-Dist: {requirement.strip()}; {condition}extra == "{extra}"\n'
    members = {
        **files,
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = [
        f"{path},{_record_hash(text.encode())},{len(text.encode())}"
        for path, text in members.items()
    ]
    record.append(f"{dist_info}/RECORD,,")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, text in members.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return out.getvalue()


class LocalIndex:
    """Distributions added by the tests, laid out as a static PyPI-like tree under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.releases: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)

    def add(self, name: str, version: str, filename: str, data: bytes) -> None:
        files = self.root / "files"
        files.mkdir(parents=True, exist_ok=True)
        (files / filename).write_bytes(data)
        entry = {
            "filename": filename,
            "url": f"../../files/{filename}",  # relative, as some mirrors list them
            "digests": {"sha256": hashlib.sha256(data).hexdigest()},
            "size": len(data),
            "packagetype": "sdist" if filename.endswith((".tar.gz", ".zip")) else "bdist_wheel",
            "yanked": False,
        }
        self.releases[canonicalize_name(name)].setdefault(version, []).append(entry)
        self._write(name)

    def add_sdist(self, name: str, version: str, files: dict[str, str]) -> str:
        filename = f"{name}-{version}.tar.gz"
        self.add(name, version, filename, sdist_bytes(name, version, files))
        return filename

    def add_wheel(
        self,
        name: str,
        version: str,
        files: dict[str, str],
        requires: tuple[str, ...] = (),
        extras: dict[str, list[str]] | None = None,
    ) -> str:
        filename = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        data = wheel_bytes(name, version, files, list(requires), extras)
        self.add(name, version, filename, data)
        return filename

    def _write(self, name: str) -> None:
        key = canonicalize_name(name)
        releases = self.releases[key]
        newest = sorted(releases)[-1]
        document = {"info": {"name": name, "version": newest}, "releases": releases}
        api = self.root / "pypi" / key
        api.mkdir(parents=True, exist_ok=True)
        (api / "json").write_text(json.dumps(document))
        links = "".join(
            f'<a href="../../files/{html.escape(entry["filename"])}#sha256='
            f'{entry["digests"]["sha256"]}">{html.escape(entry["filename"])}</a>\n'
            for files in releases.values()
            for entry in files
        )
        simple = self.root / "simple" / key
        simple.mkdir(parents=True, exist_ok=True)
        (simple / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")


@contextmanager
def serve_index(root: Path) -> Iterator[tuple[LocalIndex, str]]:
    """A `LocalIndex` under `root` and the base URL it is served at."""
    index = LocalIndex(root)
    root.mkdir(parents=True, exist_ok=True)
    with serve_directory(root) as url:
        yield index, url
