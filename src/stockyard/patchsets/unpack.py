"""What a patch-set upload holds, told apart by content: a YAML document stream, patch
instructions JSON (for every subdir, or keyed by subdir), or a tar/zip of a folder of YAML files.
Python generators are never accepted over the network (they are code).

Archives are unpacked with the same care as artifacts: only regular `.yaml`/`.yml` files, no
absolute paths or `..`, at most `MAX_FILES` files and `MAX_PATCH_SET_BYTES` unpacked.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Final, Literal

from stockyard.types.errors import InvalidMetadata

Kind = Literal["yaml", "instructions", "tar", "zip"]

#: Largest accepted patch set (conda-forge's whole YAML set is about 1 MB).
MAX_PATCH_SET_BYTES: Final = 64 * 1024 * 1024
MAX_FILES: Final = 10_000
_YAML_SUFFIXES: Final = (".yaml", ".yml")
_HINT: Final = (
    "Send a YAML document stream, patch_instructions JSON, or a .tar(.gz) or .zip of a folder "
    "of .yaml files."
)


def detect_kind(body: bytes) -> Kind:
    if body.startswith(b"PK\x03\x04"):
        return "zip"
    if body.startswith(b"\x1f\x8b") or _is_tar(body):
        return "tar"
    head = body.lstrip()[:1]
    if head == b"{":
        return "instructions"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidMetadata(
            "the patch set is neither text nor a tar or zip archive", _HINT
        ) from None
    return "yaml"


def _is_tar(body: bytes) -> bool:
    return len(body) > 262 and body[257:262] == b"ustar"


def unpack(body: bytes, kind: Kind, target: Path) -> Path:
    """Write the patch set under `target`; returns what `load_patch_source` should load."""
    target.mkdir(parents=True, exist_ok=True)
    if kind == "yaml":
        path = target / "patches.yaml"
        path.write_bytes(body)
        return path
    if kind == "instructions":
        path = target / "patch_instructions.json"
        path.write_bytes(body)
        return path
    folder = target / "yaml"
    folder.mkdir()
    members = _zip_members(body) if kind == "zip" else _tar_members(body)
    written = 0
    for name, data in members:
        written += 1
        if written > MAX_FILES:
            raise InvalidMetadata(f"the archive holds more than {MAX_FILES} YAML files", _HINT)
        destination = folder / _safe_name(name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
    if written == 0:
        raise InvalidMetadata("the archive holds no .yaml or .yml file", _HINT)
    return folder


def _safe_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise InvalidMetadata(f"archive member {name[:200]!r} escapes the folder", _HINT)
    return str(path)


def _tar_members(body: bytes) -> list[tuple[str, bytes]]:
    members: list[tuple[str, bytes]] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
            for info in archive:
                if not info.isfile() or not info.name.endswith(_YAML_SUFFIXES):
                    continue  # folders, links, devices and other files are ignored
                total += info.size
                _check_total(total)
                handle = archive.extractfile(info)
                members.append((info.name, handle.read() if handle else b""))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidMetadata(f"the tar archive cannot be read: {exc}", _HINT) from None
    return members


def _zip_members(body: bytes) -> list[tuple[str, bytes]]:
    members: list[tuple[str, bytes]] = []
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for info in archive.infolist():
                if info.is_dir() or not info.filename.endswith(_YAML_SUFFIXES):
                    continue
                total += info.file_size
                _check_total(total)
                members.append((info.filename, archive.read(info)))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InvalidMetadata(f"the zip archive cannot be read: {exc}", _HINT) from None
    return members


def _check_total(total: int) -> None:
    if total > MAX_PATCH_SET_BYTES:
        raise InvalidMetadata(
            f"the archive unpacks to more than {MAX_PATCH_SET_BYTES} bytes", _HINT
        )
