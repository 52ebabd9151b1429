"""py-rattler as the client in integration tests: solve against channel URLs and install."""

from __future__ import annotations

import asyncio
from pathlib import Path

import rattler
from rattler import Gateway, SourceConfig


def solve_and_install(
    url: str, spec: str, tmp: Path, *, sharded: bool = True, platform: str = "linux-64"
) -> dict[str, str]:
    """Solve `spec` from `url` for `platform` and noarch, install it under `tmp/env`; returns
    name -> version of what was installed."""
    gateway = Gateway(cache_dir=tmp / "cache", default_config=SourceConfig(sharded_enabled=sharded))

    async def run() -> dict[str, str]:
        records = await rattler.solve(
            [url], [spec], gateway=gateway, platforms=[platform, "noarch"], virtual_packages=[]
        )
        await rattler.install(
            records,
            target_prefix=tmp / "env",
            cache_dir=tmp / "pkgs",
            show_progress=False,
            platform=rattler.Subdir(platform),
        )
        return {r.name.normalized: str(r.version) for r in records}

    return asyncio.run(run())
