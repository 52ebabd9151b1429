"""Upstreams for the proxy tests: the same reproducible artifacts served by a real
`stockyard serve` (channel `main`) and by a plain static server holding rattler-index output."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.mirror.upstreams import build_packages, rattler_index
from tests.server.live import stockyard


def artifacts(root: Path) -> Path:
    """Build the test packages once (reproducible bytes: both upstreams serve the same files)."""
    folder = root / "pkgs"
    if not folder.exists():
        build_packages(folder)
    return folder


def stockyard_upstream_data(root: Path) -> Path:
    """A data directory whose channel `main` holds the packages (indexed at server start)."""
    data = root / "upstream-data"
    created = stockyard("channel", "create", "main", "--data", str(data))
    assert created.returncode == 0, created.stderr
    for subdir in (artifacts(root)).iterdir():
        target = data / "channels" / "main" / subdir.name
        target.mkdir(parents=True, exist_ok=True)
        for path in subdir.glob("*.conda"):
            shutil.copy2(path, target / path.name)
    return data


def static_upstream_root(root: Path, *, shards: bool = True) -> Path:
    folder = root / f"static-{'shards' if shards else 'plain'}"
    shutil.copytree(artifacts(root), folder)
    rattler_index(folder, shards=shards)
    return folder


def create_proxy(data: Path, name: str, *upstreams: str, args: tuple[str, ...] = ()) -> None:
    proxies = [part for url in upstreams for part in ("--proxy", url)]
    created = stockyard("channel", "create", name, "--data", str(data), *proxies, *args)
    assert created.returncode == 0, created.stderr
