"""Build valid and deliberately broken artifacts for the package tests.

Broken artifacts are crafted with the standard library (tarfile, zipfile) and zstandard, not with
Stockyard's writer, so the reader is tested against bytes it did not produce.
"""

from __future__ import annotations

import bz2
import io
import json
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import zstandard

NAME = "demo"
VERSION = "1.2.3"
BUILD = "py_0"
STEM = f"{NAME}-{VERSION}-{BUILD}"

INDEX: dict[str, Any] = {
    "name": NAME,
    "version": VERSION,
    "build": BUILD,
    "build_number": 0,
    "depends": ["python >=3.8"],
    "license": "MIT",
    "subdir": "noarch",
    "noarch": "python",
    "timestamp": 1700000000123,
    "custom_key": {"kept": True},
}
PAYLOAD = b"print('hello')\n"


def info_members(index: dict[str, Any] | None = None) -> dict[str, bytes]:
    import hashlib

    paths = {
        "paths_version": 1,
        "paths": [
            {
                "_path": "site-packages/demo/__init__.py",
                "path_type": "hardlink",
                "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
                "size_in_bytes": len(PAYLOAD),
            },
            {
                "_path": "bin/demo",
                "path_type": "hardlink",
                "sha256": hashlib.sha256(b"#!/bin/sh\n").hexdigest(),
                "size_in_bytes": 10,
                "prefix_placeholder": "/opt/placeholder",
                "file_mode": "text",
            },
        ],
    }
    return {
        "info/index.json": json.dumps(index if index is not None else INDEX).encode(),
        "info/about.json": json.dumps({"summary": "A demo", "license": "MIT"}).encode(),
        "info/run_exports.json": json.dumps({"weak": ["demo >=1.2"]}).encode(),
        "info/link.json": json.dumps({"noarch": {"type": "python"}}).encode(),
        "info/paths.json": json.dumps(paths).encode(),
        "info/files": b"site-packages/demo/__init__.py\nbin/demo\n",
        "info/recipe/meta.yaml": b"package:\n  name: demo\n",
        "info/icon.png": b"\x89PNG fake icon",
    }


def all_members(index: dict[str, Any] | None = None) -> dict[str, bytes]:
    return {
        **info_members(index),
        "site-packages/demo/__init__.py": PAYLOAD,
        "bin/demo": b"#!/bin/sh\n",
    }


# --- raw builders --------------------------------------------------------------------------------

TarItem = tuple[tarfile.TarInfo, bytes | None]


def file_item(name: str, data: bytes, mode: int = 0o644) -> TarItem:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def link_item(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> TarItem:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.mode = 0o777
    return info, None


def special_item(name: str, kind: bytes) -> TarItem:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


def make_tar(items: Iterable[TarItem], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in items:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def items_from(members: dict[str, bytes]) -> list[TarItem]:
    return [file_item(name, data) for name, data in members.items()]


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


def make_conda(
    path: Path,
    info_tar: bytes | None,
    pkg_tar: bytes | None = None,
    *,
    metadata: bytes = b'{"conda_pkg_format_version": 2}',
    stem: str = STEM,
    compress: bool = True,
) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", metadata)
        zf.writestr(f"pkg-{stem}.tar.zst", zstd(pkg_tar if pkg_tar is not None else make_tar([])))
        if info_tar is not None:
            zf.writestr(f"info-{stem}.tar.zst", zstd(info_tar) if compress else info_tar)
    return path


def make_tar_bz2(path: Path, tar: bytes) -> Path:
    path.write_bytes(bz2.compress(tar))
    return path


def make_both(directory: Path, items: list[TarItem], stem: str = STEM) -> list[Path]:
    """The same members as a .conda (info/ split off) and as a .tar.bz2."""
    info = [item for item in items if item[0].name.startswith("info/")]
    pkg = [item for item in items if not item[0].name.startswith("info/")]
    return [
        make_conda(directory / f"{stem}.conda", make_tar(info), make_tar(pkg), stem=stem),
        make_tar_bz2(directory / f"{stem}.tar.bz2", make_tar(info + pkg)),
    ]
