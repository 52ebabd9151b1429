"""Which artifacts a channel holds, as `ArtifactRef`s: a channel directory (its subdir folders,
sha256 from its published `repodata.json` when the file's size agrees), or a served channel
(the catalog's rows and the channel's store: a local directory or a bucket)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from stockyard.catalog import Catalog
from stockyard.scan.service import ArtifactRef, StoredFiles, stored_artifact
from stockyard.types.identifiers import is_artifact_filename

_PUBLISHED = ("repodata_from_packages.json", "repodata.json")


def _published_hashes(subdir: Path) -> dict[str, tuple[int, str]]:
    """filename -> (size, sha256) from the subdir's published repodata, if any."""
    for name in _PUBLISHED:
        path = subdir / name
        if not path.is_file():
            continue
        try:
            document: Any = msgspec.json.decode(path.read_bytes())
        except (msgspec.DecodeError, OSError):
            continue
        out: dict[str, tuple[int, str]] = {}
        for key in ("packages", "packages.conda"):
            records = document.get(key) if isinstance(document, dict) else None
            for filename, record in (records or {}).items():
                if isinstance(record, dict) and isinstance(record.get("sha256"), str):
                    out[filename] = (record.get("size", -1), record["sha256"])
        return out
    return {}


def channel_dir_artifacts(channel_dir: Path) -> list[ArtifactRef]:
    """Every artifact in the `<subdir>/` folders of a channel directory."""
    refs = []
    for subdir in sorted(p for p in channel_dir.iterdir() if p.is_dir()):
        if subdir.name.startswith("."):
            continue
        known = _published_hashes(subdir)
        for file in sorted(subdir.iterdir()):
            if not is_artifact_filename(file.name) or not file.is_file():
                continue
            size, sha256 = known.get(file.name, (-1, None))
            refs.append(
                ArtifactRef(
                    path=file,
                    subdir=subdir.name,
                    filename=file.name,
                    sha256=sha256 if size == file.stat().st_size else None,
                )
            )
    return refs


def catalog_artifacts(catalog: Catalog, channel: str, store: StoredFiles) -> list[ArtifactRef]:
    """Every local artifact of a served channel, with its sha256 from the catalog, in `store`
    (the channel's `Store`: its files are read in place from a directory, fetched from a
    bucket)."""
    found = catalog.require_channel(channel)
    refs = []
    for subdir in catalog.known_subdirs(found.id):
        for filename, state in sorted(catalog.file_states(found.id, subdir).items()):
            refs.append(stored_artifact(store, subdir, filename, state.sha256))
    return refs
