"""rattler-build (py-rattler-build) builds a package offline, uploads it to `stockyard serve`
through its quetz, prefix and artifactory uploaders, and py-rattler installs it."""

from __future__ import annotations

import asyncio
import json
import warnings
from pathlib import Path

import httpx
import pytest
import rattler
import rattler_build

from tests.server.live import LiveServer, live_server, stockyard

pytestmark = pytest.mark.integration

RECIPE = """\
package:
  name: hello-stockyard
  version: "1.2.3"
build:
  number: 0
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/hello-stockyard
    - echo hello > $PREFIX/share/hello-stockyard/hello.txt
about:
  summary: Built by rattler-build for the Stockyard tests
  license: MIT
"""

CHANNELS = {"quetz": "viaquetz", "prefix": "viaprefix", "artifactory": "viaput"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[LiveServer, Path, str]:  # type: ignore[misc]
    root = tmp_path_factory.mktemp("rb")
    data = root / "data"
    for channel in CHANNELS.values():
        assert stockyard("channel", "create", channel, "--data", str(data)).returncode == 0
    made = stockyard("token", "create", "--scope", "write", "--data", str(data), "--json")
    token = json.loads(made.stdout)["token"]
    recipe = root / "recipe" / "recipe.yaml"
    recipe.parent.mkdir()
    recipe.write_text(RECIPE)
    with live_server(data) as server:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # Offline: the only channel it reads is our server.
            rattler_build.build_recipes(
                [str(recipe)],
                channel=[f"{server.url}/viaquetz"],
                output_dir=str(root / "out"),
                test="skip",
            )
        (package,) = (root / "out").rglob("hello-stockyard-*.conda")
        yield server, package, token


def _install(channel_url: str, tmp: Path) -> list[str]:
    async def run() -> list[str]:
        records = await rattler.solve(
            [channel_url],
            ["hello-stockyard"],
            gateway=rattler.Gateway(cache_dir=tmp / "cache"),
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
        )
        await rattler.install(
            records, target_prefix=tmp / "env", cache_dir=tmp / "pkgs", show_progress=False
        )
        return [f"{r.name.normalized}={r.version}" for r in records]

    return asyncio.run(run())


@pytest.mark.parametrize("protocol", sorted(CHANNELS))
def test_rattler_build_upload_then_install(built, tmp_path: Path, protocol: str) -> None:
    server, package, token = built
    channel = CHANNELS[protocol]
    if protocol == "quetz":
        rattler_build.upload_package_to_quetz([str(package)], server.url, channel, api_key=token)
    elif protocol == "prefix":
        rattler_build.upload_package_to_prefix([str(package)], server.url, channel, api_key=token)
    else:
        rattler_build.upload_package_to_artifactory(
            [str(package)], server.url, channel, token=token
        )
    repodata = httpx.get(f"{server.url}/{channel}/noarch/repodata.json").json()
    assert package.name in repodata["packages.conda"]
    assert _install(f"{server.url}/{channel}", tmp_path) == ["hello-stockyard=1.2.3"]
    hello = tmp_path / "env" / "share" / "hello-stockyard" / "hello.txt"
    assert hello.read_text().strip() == "hello"


def test_prefix_reupload_conflicts_unless_forced_or_skipped(built) -> None:
    server, package, token = built
    upload = rattler_build.upload_package_to_prefix
    upload([str(package)], server.url, "viaprefix", api_key=token, force=True)
    with pytest.raises(Exception, match=r"(?i)conflict"):
        upload([str(package)], server.url, "viaprefix", api_key=token)
    upload([str(package)], server.url, "viaprefix", api_key=token, skip_existing=True)
    upload([str(package)], server.url, "viaprefix", api_key=token, force=True)


def test_rattler_build_upload_with_bad_token_fails(built) -> None:
    server, package, _ = built
    with pytest.raises(Exception, match=r"(?i)auth|401"):
        rattler_build.upload_package_to_prefix(
            [str(package)], server.url, "viaprefix", api_key="sy-revokedorwrong"
        )
