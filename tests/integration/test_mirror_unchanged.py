"""A mirror run that would change nothing ends at once (`stockyard.mirror.last_run`): upstream
answers 304 (or the same bytes) and the target is as the last run left it. Whatever changed
(a filter, upstream, the target by hand, a run that failed) makes the next run do the work."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stockyard.mirror.filters import MirrorFilters
from stockyard.mirror.options import MirrorOptions
from stockyard.mirror.run import mirror_channel
from stockyard.mirror.target import open_directory_target
from tests.mirror.upstreams import build_packages, rattler_index, static_server, touch_documents
from tests.server.artifacts import make_artifact
from tests.server.live import stockyard

pytestmark = pytest.mark.integration

SUBDIRS = ("-s", "noarch", "-s", "linux-64")
#: Runs the CLI in a fresh process, then reports which heavy modules that process imported.
_PROBE = """
import json, sys
from stockyard.cli.main import main
code = main(sys.argv[1:])
heavy = ("sqlalchemy", "stockyard.catalog", "stockyard.index.commit", "rattler")
print(json.dumps([name for name in heavy if name in sys.modules]), file=sys.stderr)
sys.exit(code)
"""


def _mirror(*args: str) -> dict:  # type: ignore[type-arg]
    result = stockyard("mirror", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _probed_mirror(*args: str) -> tuple[dict, list[str]]:  # type: ignore[type-arg]
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "mirror", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), json.loads(result.stderr.strip().splitlines()[-1])


def _stamps(target: Path) -> dict[str, tuple[int, int]]:
    """size and mtime of every file in the target except the mirror's working area."""
    return {
        str(path.relative_to(target)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in target.rglob("*")
        if path.is_file() and "mirror" not in path.relative_to(target).parts
    }


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    root = tmp_path / "upstream"
    build_packages(root)
    rattler_index(root, shards=True)
    return root


def test_no_change_run_ends_without_the_catalog(upstream: Path, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    with static_server(upstream) as origin:
        first = _mirror(origin.url, str(target), *SUBDIRS)
        assert (first["added"], first["up_to_date"]) == (8, False)
        before = _stamps(target)
        start = len(origin.log)
        again, heavy = _probed_mirror(origin.url, str(target), *SUBDIRS)
        assert again["up_to_date"] is True
        assert (again["selected"], again["unchanged"], again["added"]) == (8, 8, 0)
        assert again["subdirs"]["noarch"] == {
            "source": "shards",
            "records": 6,
            "not_modified": True,
        }
        # two conditional requests (the shard indexes), both answered 304, nothing else
        assert sorted(origin.paths(start)) == [
            "/linux-64/repodata_shards.msgpack.zst",
            "/noarch/repodata_shards.msgpack.zst",
        ]
        assert {entry[2] for entry in origin.log[start:]} == {304}
        assert all(entry[4] is not None for entry in origin.log[start:])
        assert heavy == []  # no catalog, no index, no rattler: nothing was opened
        assert _stamps(target) == before  # nothing written, catalog included
        # the same bytes under a new Last-Modified (a re-index that changed nothing): 200s
        # whose sha256 is the one the last run read are "unchanged" too
        touch_documents(upstream)
        start = len(origin.log)
        third = _mirror(origin.url, str(target), *SUBDIRS)
        assert third["up_to_date"] is True
        assert {entry[2] for entry in origin.log[start:]} == {200}
        fourth = _mirror(origin.url, str(target), *SUBDIRS)  # and the new validators are kept
        assert fourth["up_to_date"] is True
    assert {entry[2] for entry in origin.log[-2:]} == {304}


def test_changed_filter_or_upstream_does_the_work(upstream: Path, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    with static_server(upstream) as origin:
        _mirror(origin.url, str(target), *SUBDIRS)
        filtered = _mirror(origin.url, str(target), *SUBDIRS, "--exclude", "extra")
        assert (filtered["up_to_date"], filtered["removed"]) == (False, 1)
        assert not (target / "noarch" / "extra-1.0-0.conda").exists()
        same = _mirror(origin.url, str(target), *SUBDIRS, "--exclude", "extra")
        assert same["up_to_date"] is True and same["selected"] == 7
        # upstream gains a package (in linux-64, the first document the check asks for again:
        # it caches the new bytes, so the run itself gets a 304 for them)
        make_artifact(upstream / "linux-64", "native", "0.6", "h0_0", subdir="linux-64")
        rattler_index(upstream, shards=True)
        grown = _mirror(origin.url, str(target), *SUBDIRS, "--exclude", "extra")
        assert (grown["up_to_date"], grown["added"]) == (False, 1)
        # judged against what the last run read, not by that 304
        assert grown["subdirs"]["linux-64"]["not_modified"] is False
        # without --subdir, the subdirs come from probing every platform: never short-cut
        probed = _mirror(origin.url, str(target))
        assert probed["up_to_date"] is False
        assert _mirror(origin.url, str(target))["up_to_date"] is False


def test_target_changed_by_hand_does_the_work(upstream: Path, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    with static_server(upstream) as origin:
        _mirror(origin.url, str(target), *SUBDIRS)
        # an artifact deleted by hand: downloaded again
        deleted = target / "noarch" / "gamma-1.0-0.conda"
        deleted.unlink()
        start = len(origin.log)
        repaired = _mirror(origin.url, str(target), *SUBDIRS)
        assert (repaired["up_to_date"], repaired["added"], repaired["changed"]) == (False, 1, 1)
        assert origin.paths(start)[-1] == "/noarch/gamma-1.0-0.conda"
        assert deleted.read_bytes() == (upstream / "noarch" / deleted.name).read_bytes()
        assert _mirror(origin.url, str(target), *SUBDIRS)["up_to_date"] is True
        # an artifact put in by hand and indexed: the mirror removes it (not upstream's)
        stray = make_artifact(tmp_path / "stray" / "noarch", "stray", "1.0", "0", subdir="noarch")
        shutil.copy2(stray, target / "noarch" / stray.name)
        indexed = stockyard("index", str(target))
        assert indexed.returncode == 0, indexed.stderr
        cleaned = _mirror(origin.url, str(target), *SUBDIRS)
        assert (cleaned["up_to_date"], cleaned["removed"]) == (False, 1)
        assert not (target / "noarch" / stray.name).exists()
        # the patch instructions edited by hand
        _mirror(origin.url, str(target), *SUBDIRS)
        instructions = target / ".stockyard" / "mirror" / "patch_instructions.json"
        instructions.write_text(instructions.read_text() + " ")
        assert _mirror(origin.url, str(target), *SUBDIRS)["up_to_date"] is False
        # a write to the folder's catalog only (what an interrupted commit leaves): the
        # catalog's stamps differ, and the full run repairs it
        opened = open_directory_target(target)
        opened.catalog.mark_dirty(opened.handle.channel.id, "linux-64")
        opened.close()
        assert _mirror(origin.url, str(target), *SUBDIRS)["up_to_date"] is False
        opened = open_directory_target(target)
        assert not opened.owes_repair()
        opened.close()
        assert _mirror(origin.url, str(target), *SUBDIRS)["up_to_date"] is True


def test_failed_run_is_never_short_cut(upstream: Path, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    record = target / ".stockyard" / "mirror" / "last_run.json"

    def broken(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(404)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with static_server(upstream) as origin:
        _mirror(origin.url, str(target), *SUBDIRS)
        assert record.is_file()
        make_artifact(upstream / "noarch", "gamma", "1.1", "0", subdir="noarch")
        rattler_index(upstream, shards=True)
        origin.overrides["/noarch/gamma-1.1-0.conda"] = broken
        failed = stockyard("mirror", origin.url, str(target), *SUBDIRS, "--retries", "0")
        assert failed.returncode == 1 and "gamma-1.1-0.conda" in failed.stderr
        assert not record.exists()
        del origin.overrides["/noarch/gamma-1.1-0.conda"]
        done = _mirror(origin.url, str(target), *SUBDIRS)
        assert (done["up_to_date"], done["added"]) == (False, 1)
        assert record.is_file()


def test_library_run_checks_what_the_catalog_owes(upstream: Path, tmp_path: Path) -> None:
    """With the catalog open (a served channel, a scheduled mirror), an interrupted commit of
    another writer (a dirty subdir) makes the run do the work, which repairs it."""
    target_dir = tmp_path / "mirror"
    options = MirrorOptions(filters=MirrorFilters(subdirs=("noarch", "linux-64")))
    with static_server(upstream) as origin:
        for expected in (False, True):
            target = open_directory_target(target_dir)
            try:
                assert mirror_channel(origin.url, target, options).up_to_date is expected
            finally:
                target.close()
        target = open_directory_target(target_dir)
        try:
            target.catalog.mark_dirty(target.handle.channel.id, "noarch")
            assert target.owes_repair()
            assert mirror_channel(origin.url, target, options).up_to_date is False
            assert not target.owes_repair()
            assert mirror_channel(origin.url, target, options).up_to_date is True
        finally:
            target.close()


def test_local_upstream_listing(upstream: Path, tmp_path: Path) -> None:
    """A folder upstream without channeldata.json: its subdirs are listed again each time."""
    target = tmp_path / "mirror"
    assert _mirror(str(upstream), str(target))["up_to_date"] is False
    assert _mirror(str(upstream), str(target))["up_to_date"] is True
    make_artifact(upstream / "osx-64", "native", "0.5", "h0_0", subdir="osx-64")
    rattler_index(upstream, shards=True)
    grown = _mirror(str(upstream), str(target))
    assert (grown["up_to_date"], grown["added"]) == (False, 1)
    assert "osx-64" in grown["subdirs"]
