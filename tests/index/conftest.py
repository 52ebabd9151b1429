"""Helpers to build small real channels for indexer tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stockyard.package.create import write_artifact

MakeArtifact = Callable[..., Path]


def build_artifact(
    channel: Path,
    subdir: str,
    name: str,
    version: str = "1.0",
    build: str = "0",
    *,
    fmt: str = "conda",
    depends: list[str] | None = None,
    run_exports: dict[str, list[str]] | None = None,
    extra_index: dict[str, Any] | None = None,
    payload: bytes = b"data\n",
    about: dict[str, Any] | None = None,
) -> Path:
    index: dict[str, Any] = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": int(build.rsplit("_", 1)[-1]) if build.rsplit("_", 1)[-1].isdigit() else 0,
        "depends": depends or [],
        "license": "MIT",
        "subdir": subdir,
        "timestamp": 1700000000000,
    }
    if subdir == "noarch":
        index["noarch"] = "generic"
    else:
        index["platform"], index["arch"] = {"linux-64": ("linux", "x86_64")}.get(
            subdir, ("osx", "arm64")
        )
    index.update(extra_index or {})
    rel = f"share/{name}/data.txt"
    paths = {
        "paths_version": 1,
        "paths": [
            {
                "_path": rel,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(payload).hexdigest(),
                "size_in_bytes": len(payload),
            }
        ],
    }
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps(paths).encode(),
        "info/about.json": json.dumps(about or {"summary": f"The {name} package"}).encode(),
        rel: payload,
    }
    if run_exports:
        members["info/run_exports.json"] = json.dumps(run_exports).encode()
    target = channel / subdir / f"{name}-{version}-{build}.{fmt}"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_artifact(target, members)
    return target


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    path = tmp_path / "chan"
    (path / "noarch").mkdir(parents=True)
    return path


@pytest.fixture
def make_artifact(channel: Path) -> MakeArtifact:
    def make(subdir: str, name: str, version: str = "1.0", build: str = "0", **kw: Any) -> Path:
        return build_artifact(channel, subdir, name, version, build, **kw)

    return make
