"""Python distribution metadata embedded in conda payloads (`*.dist-info`, `*.egg-info`).

Only the header block of the core metadata is read (the `Name:` and `Version:` fields come
before the description), so a member's first `MAX_HEADER_BYTES` are enough.
"""

from __future__ import annotations

from typing import Final, Literal

from packaging.utils import canonicalize_name

#: How much of a METADATA / PKG-INFO member is read: the headers, never the long description.
MAX_HEADER_BYTES: Final = 64 << 10

MetadataKind = Literal["dist-info", "egg-info"]


def python_metadata_kind(path: str, is_file: bool) -> MetadataKind | None:
    """Whether the payload member at `path` is a distribution's core metadata, and which kind.

    `x.dist-info/METADATA`, `x.egg-info/PKG-INFO`, and the single-file form `x.egg-info` (old
    setuptools). Vendored copies (`setuptools/_vendor/packaging-24.2.dist-info/`) count too:
    their code ships in the artifact.
    """
    if not is_file or path.startswith("info/"):
        return None
    parent, _, leaf = path.rpartition("/")
    if leaf == "METADATA" and parent.endswith(".dist-info"):
        return "dist-info"
    if leaf == "PKG-INFO" and parent.endswith(".egg-info"):
        return "egg-info"
    if leaf.endswith(".egg-info") and leaf != ".egg-info":
        return "egg-info"
    return None


def metadata_folder(path: str) -> str:
    """The `.dist-info`/`.egg-info` folder (or single file) a metadata member belongs to."""
    return path.rpartition("/")[0] if path.endswith(("/METADATA", "/PKG-INFO")) else path


def parse_name_version(header: bytes) -> tuple[str, str] | None:
    """(Name, Version) from the header block of core metadata (RFC 822 style), or None."""
    text = header.decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first empty line
        if line[0] in " \t":
            continue  # a continuation line of a multi-line field
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key in ("name", "version") and key not in fields:
            fields[key] = value.strip()
    name, version = fields.get("name"), fields.get("version")
    if not name or not version:
        return None
    return name, version


def name_version_from_folder(folder: str) -> tuple[str, str] | None:
    """`foo_bar-1.0.dist-info` -> ("foo_bar", "1.0"): the wheel naming, as a fallback."""
    base = folder.rpartition("/")[2]
    for suffix in (".dist-info", ".egg-info"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    name, sep, rest = base.partition("-")
    version = rest.split("-", 1)[0]  # egg-info names may carry -pyX.Y
    if not sep or not name or not version:
        return None
    return name, version


def pypi_name(name: str) -> str:
    """The PEP 503-normalized name, as OSV's PyPI ecosystem and the pypi purl type spell it."""
    return str(canonicalize_name(name))
