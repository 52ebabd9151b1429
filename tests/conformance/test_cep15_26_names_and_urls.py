"""CEP 15 (`base_url`): absolute or relative, and resolved by clients exactly where we mean."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import rattler

from stockyard.index.run import IndexOptions, index_channel
from stockyard.types.errors import InvalidMetadata
from stockyard.types.policy import PublishOptions, check_base_url

from ..index.conftest import build_artifact


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://cdn.example.com/chan", "https://cdn.example.com/chan/linux-64/"),
        ("https://cdn.example.com/chan/", "https://cdn.example.com/chan/linux-64/"),
        ("/abs/path", "/abs/path/linux-64/"),
        ("./", "../linux-64/"),
        (".", "../linux-64/"),
        ("../mirror", "../../mirror/linux-64/"),
        ("./pkgs", "../pkgs/linux-64/"),
    ],
)
def test_subdir_base_url(base: str, expected: str) -> None:
    """CEP 15: `base_url` can be an absolute or a relative URL; a relative one is resolved
    against the subdir's repodata.json, so a channel-relative base gets one more `../`."""
    assert PublishOptions(base_url=base).subdir_base_url("linux-64") == expected


@pytest.mark.parametrize("value", ["cdn.example.com/chan", "ftp:/x", ""])
def test_ambiguous_base_urls_are_refused(value: str) -> None:
    with pytest.raises(InvalidMetadata, match="neither absolute nor explicitly relative"):
        check_base_url(value)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
@pytest.mark.parametrize("sharded", [False, True])
def test_rattler_installs_through_a_relative_base_url(
    web_root: tuple[str, Path], tmp_path: Path, sharded: bool
) -> None:
    """CEP 15: packages are downloaded from `base_url` + filename; py-rattler resolves our
    relative `../../mirror/linux-64/` from `chan/linux-64/repodata.json` to `mirror/linux-64/`."""
    url, root = web_root
    channel = root / "chan"
    build_artifact(channel, "linux-64", "app", depends=["lib"])
    build_artifact(channel, "linux-64", "lib")
    index_channel(channel, IndexOptions(publish=PublishOptions(base_url="../mirror")))
    # The artifacts live only in the mirror, next to the channel.
    mirror = root / "mirror" / "linux-64"
    mirror.mkdir(parents=True)
    for artifact in (channel / "linux-64").glob("*.conda"):
        shutil.move(artifact, mirror / artifact.name)
    repodata = json.loads((channel / "linux-64" / "repodata.json").read_bytes())
    assert repodata["info"]["base_url"] == "../../mirror/linux-64/"
    assert repodata["repodata_version"] == 2
    gateway = rattler.Gateway(
        cache_dir=tmp_path / f"cache-{sharded}",
        default_config=rattler.SourceConfig(sharded_enabled=sharded, cache_action="no-cache"),
    )
    records = asyncio.run(
        rattler.solve(
            [rattler.Channel(f"{url}/chan")],
            ["app"],
            gateway=gateway,
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
        )
    )
    assert sorted(str(r.url) for r in records) == [
        f"{url}/mirror/linux-64/app-1.0-0.conda",
        f"{url}/mirror/linux-64/lib-1.0-0.conda",
    ]
    prefix = tmp_path / f"env-{sharded}"
    asyncio.run(rattler.install(records, prefix, cache_dir=tmp_path / f"pkgs-{sharded}"))
    assert (prefix / "share" / "app" / "data.txt").read_bytes() == b"data\n"


@pytest.mark.parametrize("name", ["noarch", "linux-64", "osx-arm64", "win-64"])
def test_channel_names_like_subdirs_are_refused(name: str) -> None:
    """CEP 26: channel names SHOULD NOT be subdir names (a client could not tell them apart)."""
    from stockyard.server.channels import check_servable_channel_name
    from stockyard.types.errors import InvalidIdentifier

    with pytest.raises(InvalidIdentifier, match="platform subdir"):
        check_servable_channel_name(name)
    assert check_servable_channel_name("my-team") == "my-team"
