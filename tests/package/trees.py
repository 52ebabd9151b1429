"""Snapshot an extracted directory tree for comparisons: contents, permission bits, link targets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

Node = tuple[str, bytes | str | None, int | None]


def snapshot(root: Path) -> dict[str, Node]:
    """relative path -> ("file", bytes, mode) | ("link", target, None) | ("dir", None, None)."""
    out: dict[str, Node] = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(directory) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path), None)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", None, None)
            else:
                out[rel] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def write_tree(root: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if name.startswith("bin/"):
            path.chmod(0o755)
    for name, target in (links or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    return root
