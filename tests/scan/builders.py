"""Artifacts with embedded Python distributions, written with `stockyard.package.create`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stockyard.package.create import write_artifact

TIMESTAMP = 1_700_000_000_000


def dist_info_metadata(name: str, version: str) -> bytes:
    return (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test\n\n"
        f"Long description mentioning Name: not-{name}\n"
    ).encode()


def python_artifact(
    dest_dir: Path,
    name: str,
    version: str = "1.0",
    build: str = "py_0",
    *,
    dists: list[tuple[str, str]] | None = None,
    egg_infos: list[tuple[str, str]] | None = None,
    purls: list[Any] | None = None,
    about: dict[str, Any] | None = None,
    licenses: dict[str, bytes] | None = None,
    fmt: str = "conda",
    subdir: str = "noarch",
    depends: list[str] | None = None,
) -> Path:
    """`<name>-<version>-<build>.<fmt>` with a `site-packages/<d>-<v>.dist-info/METADATA` per
    entry of `dists` (default: the package itself), egg-info folders, and extra info files."""
    index: dict[str, Any] = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": depends or [],
        "license": "MIT",
        "subdir": subdir,
        "timestamp": TIMESTAMP,
    }
    if subdir == "noarch":
        index["noarch"] = "python"
    if purls is not None:
        index["purls"] = purls
    members: dict[str, bytes] = {}
    for dist, dist_version in dists if dists is not None else [(name, version)]:
        folder = f"site-packages/{dist.replace('-', '_')}-{dist_version}.dist-info"
        members[f"{folder}/METADATA"] = dist_info_metadata(dist, dist_version)
        members[f"{folder}/RECORD"] = b""
    for dist, dist_version in egg_infos or []:
        folder = f"site-packages/{dist}-{dist_version}-py3.11.egg-info"
        members[f"{folder}/PKG-INFO"] = dist_info_metadata(dist, dist_version)
    members[f"site-packages/{name.replace('-', '_')}/__init__.py"] = b"# empty\n"
    for license_name, text in (licenses or {}).items():
        members[f"info/licenses/{license_name}"] = text
    payload = [p for p in members if not p.startswith("info/")]
    paths = {
        "paths_version": 1,
        "paths": [
            {
                "_path": p,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(members[p]).hexdigest(),
                "size_in_bytes": len(members[p]),
            }
            for p in payload
        ],
    }
    members["info/index.json"] = json.dumps(index).encode()
    members["info/paths.json"] = json.dumps(paths).encode()
    members["info/about.json"] = json.dumps(about or {"summary": name}).encode()
    members["info/files"] = "".join(p + "\n" for p in payload).encode()
    dest = Path(dest_dir) / f"{name}-{version}-{build}.{fmt}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_artifact(dest, members, zstd_level=3, fsync=False)
    return dest
