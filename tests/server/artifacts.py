"""Small, valid conda artifacts for server tests (built with stockyard.package.create)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from stockyard.package.create import write_artifact

#: A fixed build time (ms) so artifacts are reproducible.
TIMESTAMP = 1_700_000_000_000


def make_artifact(
    dest_dir: Path,
    name: str,
    version: str = "1.0",
    build: str = "0",
    *,
    subdir: str = "noarch",
    depends: list[str] | None = None,
    fmt: str = "conda",
    license: str = "MIT",
    summary: str | None = None,
    index_overrides: dict | None = None,
) -> Path:
    """Write `<name>-<version>-<build>.<fmt>` into `dest_dir` and return its path.

    The payload is one text file, `share/<name>/<name>.txt`, with a matching info/paths.json so
    real clients (py-rattler) can install it.
    """
    payload_path = f"share/{name}/{name}.txt"
    payload = f"{name} {version} {build}\n".encode()
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": int(build.rsplit("_", 1)[-1]) if build.rsplit("_", 1)[-1].isdigit() else 0,
        "depends": depends or [],
        "license": license,
        "subdir": subdir,
        "timestamp": TIMESTAMP,
    }
    if subdir == "noarch":
        index["noarch"] = "generic"
    else:
        index["arch"] = subdir.split("-", 1)[1]
        index["platform"] = subdir.split("-", 1)[0]
    index.update(index_overrides or {})
    paths = {
        "paths_version": 1,
        "paths": [
            {
                "_path": payload_path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(payload).hexdigest(),
                "size_in_bytes": len(payload),
            }
        ],
    }
    about = {"summary": summary or f"The {name} test package", "license": license}
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps(paths).encode(),
        "info/about.json": json.dumps(about).encode(),
        "info/files": (payload_path + "\n").encode(),
        payload_path: payload,
    }
    dest = Path(dest_dir) / f"{name}-{version}-{build}.{fmt}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_artifact(dest, members, zstd_level=3, fsync=False)
    return dest


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
