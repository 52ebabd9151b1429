"""The conda packages an SBOM lists, from artifacts, solved environments or lockfiles."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from stockyard.package.read import read_artifact
from stockyard.scan.identify import identify_artifact
from stockyard.scan.model import Identification
from stockyard.scan.store import ScanStore
from stockyard.types.errors import InvalidArtifact, StockyardError


class SbomSourceError(StockyardError):
    """The environment could not be solved or the lockfile read."""

    default_hint = "Check the specs, the channel URLs and the platform (or the lockfile path)."


@dataclass
class CondaPackage:
    name: str
    version: str
    build: str
    subdir: str
    filename: str
    build_number: int = 0
    channel: str | None = None
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    license: str | None = None
    url: str | None = None
    depends: list[str] = field(default_factory=list)
    #: What `stockyard.scan` identified inside (nested components); None when not known.
    identification: Identification | None = None


def package_from_artifact(path: Path, *, channel: str | None = None) -> CondaPackage:
    """One artifact file, read and identified (raises InvalidArtifact)."""
    meta = read_artifact(path)
    index = meta.index_json
    return CondaPackage(
        name=index["name"],
        version=index["version"],
        build=index["build"],
        subdir=str(index.get("subdir") or ""),
        filename=meta.filename,
        build_number=int(index.get("build_number") or 0),
        channel=channel,
        sha256=meta.sha256,
        md5=meta.md5,
        size=meta.size,
        license=index.get("license") if isinstance(index.get("license"), str) else None,
        depends=[d for d in index.get("depends") or [] if isinstance(d, str)],
        identification=identify_artifact(path),
    )


def _local_file(url: str | None) -> Path | None:
    if not url or not url.startswith("file://"):
        return None
    return Path(unquote(urlsplit(url).path))


def _identification(record: Any, store: ScanStore | None) -> Identification | None:
    """From the scan store by sha256, else by reading the artifact when it is a local file."""
    sha256 = record.sha256.hex() if isinstance(record.sha256, bytes) else record.sha256
    if store is not None and sha256:
        found = store.identification(sha256)
        if found is not None:
            return found
    path = _local_file(str(record.url) if record.url else None)
    if path is not None and path.is_file():
        try:
            return identify_artifact(path)
        except InvalidArtifact:
            return None
    return None


def package_from_record(record: Any, store: ScanStore | None) -> CondaPackage:
    """A py-rattler `RepoDataRecord` (solved or locked)."""
    sha256 = record.sha256.hex() if isinstance(record.sha256, bytes) else record.sha256
    md5 = record.md5.hex() if isinstance(record.md5, bytes) else record.md5
    channel = str(record.channel).rstrip("/") if record.channel else None
    return CondaPackage(
        name=record.name.normalized,
        version=str(record.version),
        build=str(record.build),
        subdir=str(record.subdir),
        filename=str(record.file_name),
        build_number=int(record.build_number),
        channel=None if channel is None or channel.startswith("file:") else channel,
        sha256=sha256,
        md5=md5,
        size=record.size,
        license=str(record.license) if record.license else None,
        url=str(record.url) if record.url else None,
        depends=[str(d) for d in record.depends],
        identification=_identification(record, store),
    )


def solve_environment(
    specs: Sequence[str], channels: Sequence[str], platform: str, cache_dir: Path | None = None
) -> list[Any]:
    """Solve `specs` from `channels` for `platform` with py-rattler (no virtual packages)."""
    import rattler

    gateway = rattler.Gateway(cache_dir=cache_dir) if cache_dir else rattler.Gateway()
    try:
        return asyncio.run(
            rattler.solve(
                list(channels),
                list(specs),
                gateway=gateway,
                platforms=[rattler.Subdir(platform), rattler.Subdir("noarch")],
                virtual_packages=[],
            )
        )
    except Exception as exc:  # py-rattler raises its own exception types for solve failures
        raise SbomSourceError(f"cannot solve {', '.join(specs)}: {exc}") from None


def lockfile_records(path: Path, environment: str | None, platform: str) -> list[Any]:
    """The conda records of one environment and platform of a rattler/pixi lockfile."""
    import rattler

    try:
        lock = rattler.LockFile.from_path(path)
        env = lock.environment(environment) if environment else lock.default_environment()
        if env is None:
            raise SbomSourceError(f"{path}: no environment {environment or 'default'!r}")
        matching = [p for p in env.platforms() if p.name == platform or str(p.subdir) == platform]
        if not matching:
            raise SbomSourceError(f"{path}: no platform {platform!r} in the lockfile")
        records = env.conda_repodata_records_for_platform(matching[0])
    except SbomSourceError:
        raise
    except Exception as exc:  # py-rattler's parse errors
        raise SbomSourceError(f"{path}: cannot read the lockfile ({exc})") from None
    if records is None:
        raise SbomSourceError(f"{path}: no packages for platform {platform}")
    return list(records)
