"""Patched upstreams: by default the mirror publishes upstream's patched records (its patches
become the target's patch source); `--unpatched` publishes the records from the packages and
leaves patching to the target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockyard.index.run import IndexOptions, index_channel
from tests.mirror.upstreams import build_packages, records_without_stamps, solve, static_server
from tests.server.live import stockyard

pytestmark = pytest.mark.integration

PATCHES = {
    "noarch": {
        "packages.conda": {
            "beta-2.0-0.conda": {"depends": ["gamma >=1", "extra"], "license": "MIT"},
            "gamma-1.0-0.conda": {"run_exports": {"weak": ["gamma >=1"]}},
        },
        "remove": ["other-1.0-0.conda"],
        "revoke": ["beta-1.0-0.conda"],
    }
}


@pytest.fixture
def patched_upstream(tmp_path: Path) -> Path:
    upstream = tmp_path / "upstream"
    build_packages(upstream)
    patches = tmp_path / "patches.json"
    patches.write_text(json.dumps(PATCHES))
    index_channel(upstream, IndexOptions(patch_source=str(patches)))
    return upstream


def _mirror(*args: str) -> dict:  # type: ignore[type-arg]
    result = stockyard("mirror", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_patched_records_are_mirrored_faithfully(patched_upstream: Path, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    with static_server(patched_upstream) as origin, static_server(tmp_path) as served:
        summary = _mirror(origin.url, str(target))
        assert summary["unfaithful"] == [] and summary["patched_records"] == 3
        for subdir in ("noarch", "linux-64"):
            name = "repodata.json"
            assert records_without_stamps(target / subdir / name) == records_without_stamps(
                patched_upstream / subdir / name
            )
        ours = json.loads((target / "noarch" / "repodata.json").read_bytes())
        theirs = json.loads((patched_upstream / "noarch" / "repodata.json").read_bytes())
        assert ours["removed"] == theirs["removed"] == ["other-1.0-0.conda"]
        env = solve(f"{served.url}/mirror", ["native"], tmp_path / "c1", sharded=True)
        assert env == solve(origin.url, ["native"], tmp_path / "c2", sharded=True)
        assert "extra-1.0-0.conda" in env
        again = _mirror(origin.url, str(target))
        assert again["files_written"] == 0 and again["added"] == 0
    # the target keeps publishing the same after its own index run
    index_channel(target)
    assert records_without_stamps(target / "noarch" / "repodata.json") == records_without_stamps(
        patched_upstream / "noarch" / "repodata.json"
    )


def test_unpatched_mirrors_the_packages_records(patched_upstream: Path, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    with static_server(patched_upstream) as origin:
        summary = _mirror(origin.url, str(target), "--unpatched")
        assert summary["subdirs"]["noarch"]["source"] == "repodata_from_packages.json"
        assert summary["patched_records"] == 0
    published = records_without_stamps(target / "noarch" / "repodata.json")
    assert published == records_without_stamps(
        patched_upstream / "noarch" / "repodata_from_packages.json"
    )
    assert "other-1.0-0.conda" in published
