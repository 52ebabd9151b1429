"""CEP 47: `indexed_timestamp` values MUST be preserved, never recomputed. They live in the
catalog; when a catalog does not know a subdir (lost, new, moved to PostgreSQL, restored from an
older backup) they are seeded from the channel's own published files before anything else."""

from __future__ import annotations

import msgspec

from stockyard.storage import Store
from stockyard.types.repodata import REPODATA_FROM_PACKAGES, REPODATA_JSON


class _Stamp(msgspec.Struct):
    sha256: str | None = None
    indexed_timestamp: int | None = None


class _Published(msgspec.Struct):
    packages: dict[str, _Stamp] = {}
    packages_conda: dict[str, _Stamp] = msgspec.field(default_factory=dict, name="packages.conda")


_decode = msgspec.json.Decoder(_Published).decode


def published_stamps(store: Store, subdir: str) -> dict[str, tuple[str, int]]:
    """filename -> (sha256, indexed_timestamp) as last published for `subdir`; empty when
    nothing (readable) was published. A stamp is reused only for the same bytes (sha256)."""
    for name in (REPODATA_FROM_PACKAGES, REPODATA_JSON):
        key = f"{subdir}/{name}"
        if store.stat(key) is None:
            continue
        try:
            published = _decode(store.get(key))
        except (msgspec.DecodeError, OSError):
            continue  # unreadable: try the next file, else stamp anew
        stamps: dict[str, tuple[str, int]] = {}
        for section in (published.packages, published.packages_conda):
            for filename, stamp in section.items():
                if stamp.sha256 and stamp.indexed_timestamp:
                    stamps[filename] = (stamp.sha256, stamp.indexed_timestamp)
        return stamps
    return {}
