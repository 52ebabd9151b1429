"""Upload spool files: owned by a live process, swept when their owner died or they went stale."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from stockyard.server.spool import (
    LOCK_PREFIX,
    SpoolOwner,
    remove_orphans,
    spool_directories,
    sweep,
)


def _spool(tmp_path: Path, channel: str = "main") -> Path:
    return tmp_path / "channels" / channel / ".stockyard" / "uploads"


def test_a_live_owner_keeps_its_files_until_they_go_stale(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    owner = SpoolOwner()
    owner.claim(spool)
    try:
        fresh = spool / f"{owner.file_prefix}fresh.part"
        old = spool / f"{owner.file_prefix}old.part"
        fresh.write_bytes(b"x")
        old.write_bytes(b"y")
        os.utime(old, (time.time() - 7200, time.time() - 7200))
        assert remove_orphans(spool) == 0  # at start: a live owner's files stay
        assert sweep(tmp_path / "channels", max_age=3600) == 1  # periodic: stale ones go
        assert fresh.exists() and not old.exists()
        assert len(list(spool.glob(f"{LOCK_PREFIX}*"))) == 1
    finally:
        owner.close()
    assert list(spool.glob(f"{LOCK_PREFIX}*")) == []


def test_files_of_a_killed_process_are_orphans(tmp_path: Path) -> None:
    """A process holding the owner lock is killed with SIGKILL: the OS drops its lock, so its
    spool file (however fresh) and its lock file are removed by the next sweep."""
    spool = _spool(tmp_path)
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from stockyard.server.spool import SpoolOwner\n"
        "owner = SpoolOwner(); spool = Path(sys.argv[1]); owner.claim(spool)\n"
        "(spool / f'{owner.file_prefix}abc.part').write_bytes(b'partial')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(spool)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        assert sweep(tmp_path / "channels") == 0  # alive: kept
        assert len(list(spool.glob("*.part"))) == 1
    finally:
        child.kill()
        child.wait(timeout=10)
    assert sweep(tmp_path / "channels") == 1
    assert list(spool.iterdir()) == []


def test_unowned_names_are_orphans(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.mkdir(parents=True)
    (spool / ".upload.legacy.part").write_bytes(b"x")  # an older server's name: no owner
    (spool / ".upload.0123456789abcdef.x.part").write_bytes(b"x")  # owner lock missing
    assert remove_orphans(spool) == 2
    assert list(spool.iterdir()) == []


def test_claim_survives_the_directory_being_recreated(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    owner = SpoolOwner()
    try:
        owner.claim(spool)
        shutil.rmtree(spool)  # e.g. the channel was deleted and created again
        owner.claim(spool)
        mine = spool / f"{owner.file_prefix}new.part"
        mine.write_bytes(b"x")
        assert remove_orphans(spool) == 0 and mine.exists()
    finally:
        owner.close()


def test_spool_directories(tmp_path: Path) -> None:
    assert spool_directories(tmp_path / "missing") == []
    (tmp_path / "channels" / "a").mkdir(parents=True)
    (tmp_path / "channels" / "b").mkdir()
    (tmp_path / "channels" / "file").write_text("")
    assert sorted(p.parts[-3] for p in spool_directories(tmp_path / "channels")) == ["a", "b"]
