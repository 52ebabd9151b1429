"""Fault injection between every pair of steps of the commit (raise, and `kill -9`): after the
next run (what a server restart does), the published state equals the catalog and no
acknowledged artifact is missing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index.commit import PublishPending
from stockyard.index.run import IndexOptions, index_channel
from stockyard.index.upload import ingest_uploads, validate_upload
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import LocalStore

from .conftest import build_artifact

#: Each step of a commit, as (module attribute to replace, description). The replacement raises
#: (or kills the process) when it is called.
FAULTS = {
    "in-transaction": "stockyard.catalog.artifacts.write_channel_files_dirty",
    "before-move": "stockyard.storage.local.LocalStore.move",
    "before-forget-moves": "stockyard.catalog.artifacts.ArtifactsPart.forget_moves",
    "before-publish": "stockyard.index.commit.publish_subdir",
    "before-mark-published": "stockyard.catalog.publishing.PublishingPart.mark_published",
    "before-channeldata": "stockyard.index.commit.refresh_channeldata_entries",
    "before-channel-files": "stockyard.index.commit.publish_channel_files",
    "before-files-clean": "stockyard.catalog.channels.ChannelsPart.set_channel_files_dirty",
}


class Injected(Exception):
    pass


def _inject(monkeypatch: pytest.MonkeyPatch, target: str, action: Callable[[], None]) -> None:
    module_name, _, attr = target.rpartition(".")
    owner: Any
    try:
        owner = __import__(module_name, fromlist=["_"])
    except ImportError:  # a class attribute: module.Class.method
        module_name, _, cls = module_name.rpartition(".")
        owner = getattr(__import__(module_name, fromlist=["_"]), cls)
    original = getattr(owner, attr)

    def faulty(*args: Any, **kwargs: Any) -> Any:
        action()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, attr, faulty)


def _raise() -> None:
    raise Injected("injected fault")


def _check_consistent(channel_dir: Path, db: Path) -> set[str]:
    """Published files describe exactly the catalog; every listed file exists. Returns the
    published filenames."""
    catalog = Catalog.open(sqlite_url(db))
    try:
        (channel,) = catalog.list_channels()
        published: set[str] = set()
        for subdir in catalog.known_subdirs(channel.id):
            repodata = json.loads((channel_dir / subdir / "repodata.json").read_bytes())
            listed = set(repodata["packages"]) | set(repodata["packages.conda"])
            in_catalog = {row.filename for row in catalog.iter_publish_rows(channel.id, subdir)}
            assert listed == in_catalog, subdir
            for filename in listed:
                assert (channel_dir / subdir / filename).is_file(), filename
            published |= listed
            state = catalog.subdir_state(channel.id, subdir)
            assert state is not None and not state.dirty
        channeldata = json.loads((channel_dir / "channeldata.json").read_bytes())
        assert set(channeldata["packages"]) == catalog.names_in_channel(channel.id)
        assert not catalog.channel_files_dirty(channel.id)
        assert not catalog.pending_moves(channel.id)
    finally:
        catalog.close()
    staged = channel_dir / ".stockyard" / "staged"
    assert not staged.exists() or not [p for p in staged.rglob("*") if p.is_file()]
    return published


def _recover(channel_dir: Path, db: Path) -> None:
    """What `stockyard serve` does at start for every channel."""
    index_channel(channel_dir, IndexOptions(db_url=sqlite_url(db), channel_name="chan"))


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, Path]:
    """A served channel (catalog outside the channel directory, as `stockyard serve` keeps it)
    with two artifacts already published."""
    channel_dir = tmp_path / "channels" / "chan"
    db = tmp_path / "catalog.db"
    build_artifact(channel_dir, "linux-64", "base")
    build_artifact(channel_dir, "noarch", "common")
    _recover(channel_dir, db)
    return channel_dir, db


def _upload(channel_dir: Path, db: Path, artifact: Path) -> None:
    spooled = channel_dir.parent / f"{artifact.name}.part"
    shutil.copyfile(artifact, spooled)
    catalog = Catalog.open(sqlite_url(db))
    try:
        channel = catalog.require_channel("chan")
        (outcome,) = ingest_uploads(
            catalog,
            LocalStore(channel_dir),
            channel,
            [validate_upload(artifact.name, spooled)],
            workspace=ChannelWorkspace(channel_dir),
        )
        if isinstance(outcome, Exception):
            raise outcome
    finally:
        catalog.close()


#: Faults that come before the catalog transaction has committed: nothing is stored.
BEFORE_STORED = {"in-transaction"}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_upload_fault_then_restart(
    served: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    channel_dir, db = served
    new = build_artifact(tmp_path / "built", "linux-64", "newpkg")
    with monkeypatch.context() as patch:
        _inject(patch, FAULTS[fault], _raise)
        # The client is told the truth: nothing stored, or stored but not yet published.
        expected = Injected if fault in BEFORE_STORED else PublishPending
        with pytest.raises(expected):
            _upload(channel_dir, db, new)
    _recover(channel_dir, db)
    published = _check_consistent(channel_dir, db)
    assert {"base-1.0-0.conda", "common-1.0-0.conda"} <= published
    assert (new.name in published) is (fault not in BEFORE_STORED)


@pytest.mark.parametrize("fault", sorted(set(FAULTS) - BEFORE_STORED))
def test_upload_fault_once_is_published_and_acknowledged(
    served: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """A passing failure after the change is stored: the second publish succeeds, the client
    gets its result (201) and the package is installable at once."""
    channel_dir, db = served
    new = build_artifact(tmp_path / "built", "linux-64", "newpkg")
    fired: list[bool] = []

    def once() -> None:
        if not fired:
            fired.append(True)
            raise Injected("once")

    with monkeypatch.context() as patch:
        _inject(patch, FAULTS[fault], once)
        _upload(channel_dir, db, new)
    assert fired
    assert new.name in _check_consistent(channel_dir, db)


@pytest.mark.parametrize("fault", sorted(set(FAULTS) - {"before-move", "before-forget-moves"}))
def test_index_fault_then_rerun(
    served: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    channel_dir, db = served
    build_artifact(channel_dir, "linux-64", "newpkg")
    (channel_dir / "noarch" / "common-1.0-0.conda").unlink()
    with monkeypatch.context() as patch:
        _inject(patch, FAULTS[fault], _raise)
        with pytest.raises(Injected):
            _recover(channel_dir, db)
    _recover(channel_dir, db)
    published = _check_consistent(channel_dir, db)
    # The file on disk is never lost, the removed one stays removed (defect 2 of issue 13).
    assert "newpkg-1.0-0.conda" in published
    assert "common-1.0-0.conda" not in published
    removed = json.loads((channel_dir / "noarch/repodata.json").read_bytes())["removed"]
    assert "common-1.0-0.conda" in removed


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from index import test_commit_faults as t
    import pytest

    mp = pytest.MonkeyPatch()
    t._inject(mp, t.FAULTS[sys.argv[1]], lambda: os.kill(os.getpid(), signal.SIGKILL))
    t._upload(__import__("pathlib").Path(sys.argv[2]), __import__("pathlib").Path(sys.argv[3]),
              __import__("pathlib").Path(sys.argv[4]))
    """
)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_upload_killed_then_restart(served: tuple[Path, Path], tmp_path: Path, fault: str) -> None:
    channel_dir, db = served
    new = build_artifact(tmp_path / "built", "linux-64", "newpkg")
    tests_dir = str(Path(__file__).resolve().parents[1])
    script = _CHILD.format(tests=tests_dir)
    argv = [sys.executable, "-c", script, fault, str(channel_dir), str(db), str(new)]
    proc = subprocess.run(argv, capture_output=True, timeout=120, env={**os.environ})
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    _recover(channel_dir, db)
    published = _check_consistent(channel_dir, db)
    assert {"base-1.0-0.conda", "common-1.0-0.conda"} <= published
    if fault != "in-transaction":  # killed after the commit: the artifact is there
        assert new.name in published
