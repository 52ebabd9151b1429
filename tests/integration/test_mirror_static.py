"""`stockyard mirror` from a channel we did not write: rattler-index output (with and without
shards) on a plain static file server. py-rattler solves the same environment from the mirror
as from upstream and installs it; a re-run asks conditionally and downloads nothing; upstream
additions and removals arrive; the target is exactly what `stockyard index` makes of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stockyard.index.run import index_channel
from tests.mirror.upstreams import (
    NATIVE_ENV,
    build_packages,
    install,
    rattler_index,
    records_without_stamps,
    solve,
    static_server,
)
from tests.server.artifacts import make_artifact
from tests.server.live import stockyard

pytestmark = pytest.mark.integration


def _mirror(*args: str) -> dict:  # type: ignore[type-arg]
    result = stockyard("mirror", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("shards", [True, False], ids=["shards", "monolithic"])
def test_mirror_solves_and_installs_like_upstream(tmp_path: Path, shards: bool) -> None:
    upstream, target = tmp_path / "upstream", tmp_path / "mirror"
    build_packages(upstream)
    rattler_index(upstream, shards=shards)
    with static_server(upstream) as origin, static_server(target.parent) as served:
        summary = _mirror(origin.url, str(target), "--include", "native", "--with-dependencies")
        assert summary["subdirs"]["noarch"]["source"] == (
            "shards" if shards else "repodata.json.zst"
        )
        assert summary["added"] == 4 and summary["unsatisfied"] == []
        mirror_url = f"{served.url}/mirror"
        for sharded in (True, False):
            theirs = solve(origin.url, ["native"], tmp_path / "c1", sharded=sharded)
            ours = solve(mirror_url, ["native"], tmp_path / "c2", sharded=sharded)
            assert ours == theirs == NATIVE_ENV
        env = install(mirror_url, ["native"], tmp_path / "install")
        assert (env / "share" / "gamma" / "gamma.txt").read_text() == "gamma 1.0 0\n"
    published = set(
        json.loads((target / "noarch" / "repodata.json").read_bytes())["packages.conda"]
    )
    assert "other-1.0-0.conda" not in published and "beta-1.0-0.conda" not in published


def test_rerun_is_conditional_and_follows_upstream(tmp_path: Path) -> None:
    upstream, target = tmp_path / "upstream", tmp_path / "mirror"
    build_packages(upstream)
    rattler_index(upstream, shards=True)
    with static_server(upstream) as origin:
        first = _mirror(origin.url, str(target), "--subdir", "noarch", "--subdir", "linux-64")
        assert first["added"] == 8
        start = len(origin.log)
        again = _mirror(origin.url, str(target), "--subdir", "noarch", "--subdir", "linux-64")
        assert again["added"] == again["removed"] == again["files_written"] == 0
        assert {entry[2] for entry in origin.log[start:]} == {304}
        assert not any(p.endswith((".conda", ".bz2")) for p in origin.paths(start))
        # upstream gains one package and loses another
        make_artifact(upstream / "noarch", "gamma", "1.1", "0", subdir="noarch")
        (upstream / "noarch" / "beta-1.0-0.conda").unlink()
        rattler_index(upstream, shards=True)
        start = len(origin.log)
        third = _mirror(origin.url, str(target), "-s", "noarch", "-s", "linux-64")
    assert (third["added"], third["removed"], third["unchanged"]) == (1, 1, 7)
    assert [p for p in origin.paths(start) if p.endswith(".conda")] == ["/noarch/gamma-1.1-0.conda"]
    repodata = json.loads((target / "noarch" / "repodata.json").read_bytes())
    assert "beta-1.0-0.conda" in repodata["removed"]
    assert not (target / "noarch" / "beta-1.0-0.conda").exists()


def test_target_is_what_stockyard_index_makes(tmp_path: Path) -> None:
    """Same catalog: indexing the mirror changes nothing. Same outputs: indexing a copy of its
    artifacts afresh publishes the same records."""
    upstream, target = tmp_path / "upstream", tmp_path / "mirror"
    build_packages(upstream)
    rattler_index(upstream, shards=False)
    with static_server(upstream) as origin:
        _mirror(origin.url, str(target))
    again = index_channel(target)
    assert (again.added, again.changed, again.removed, again.files_written) == (0, 0, 0, 0)
    fresh = tmp_path / "fresh"
    for subdir in ("noarch", "linux-64"):
        (fresh / subdir).mkdir(parents=True)
        for artifact in (target / subdir).glob("*.conda"):
            shutil.copy2(artifact, fresh / subdir / artifact.name)
    index_channel(fresh)
    for subdir in ("noarch", "linux-64"):
        for name in ("repodata.json", "repodata_from_packages.json"):
            assert records_without_stamps(target / subdir / name) == records_without_stamps(
                fresh / subdir / name
            )
    # and those are upstream's records (rattler-index publishes the same keys for these)
    assert records_without_stamps(target / "noarch" / "repodata.json") == records_without_stamps(
        upstream / "noarch" / "repodata.json"
    )
