"""LocalStore: atomic writes, traversal checks, listing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockyard.storage import LocalStore, check_key
from stockyard.storage.base import InvalidKey


@pytest.mark.parametrize(
    "key",
    ["../x", "/etc/passwd", "a/../../b", "a//b", "", "a/./b", "a\\b", "a\0b", "a/..", "x/ y"],
)
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        check_key(key)


@given(st.text(max_size=60))
def test_accepted_keys_stay_inside(tmp_path_factory: pytest.TempPathFactory, key: str) -> None:
    root = Path("/srv/channel")
    try:
        check_key(key)
    except InvalidKey:
        return
    resolved = (root / key).resolve()
    assert resolved.is_relative_to(root)


def test_put_get_list_delete(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("linux-64/a-1-0.conda", b"one")
    store.put("linux-64/a-1-0.conda", b"two")
    assert store.get("linux-64/a-1-0.conda") == b"two"
    assert [o.key for o in store.list("linux-64")] == ["linux-64/a-1-0.conda"]
    assert store.list_dirs() == ["linux-64"]
    info = store.stat("linux-64/a-1-0.conda")
    assert info is not None and info.size == 3
    # no temp files left behind
    assert sorted(p.name for p in (tmp_path / "linux-64").iterdir()) == ["a-1-0.conda"]
    store.delete("linux-64/a-1-0.conda")
    assert store.stat("linux-64/a-1-0.conda") is None
    assert list(store.list("missing")) == []


def test_put_file_moves_atomically(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    src = tmp_path / "upload.tmp"
    src.write_bytes(b"payload")
    store.put_file("noarch/x-1-0.conda", src)
    assert not src.exists()
    assert store.get("noarch/x-1-0.conda") == b"payload"


def test_copy_is_a_hard_link(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "c", fsync=False)
    store.put("noarch/a.conda", b"bytes")
    store.copy("noarch/a.conda", "snapshots/s/noarch/a.conda")
    source, copy = (
        (tmp_path / "c" / "noarch" / "a.conda"),
        (tmp_path / "c" / "snapshots/s/noarch/a.conda"),
    )
    assert source.stat().st_ino == copy.stat().st_ino
    assert source.stat().st_nlink == 2


def test_copy_copies_where_links_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another file system (EXDEV) or a share without links: the bytes are copied instead."""
    import errno
    import os

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    store = LocalStore(tmp_path / "c", fsync=True)
    store.put("noarch/a.conda", b"bytes")
    monkeypatch.setattr(os, "link", refuse)
    store.copy("noarch/a.conda", "snapshots/s/noarch/a.conda")
    copy = tmp_path / "c" / "snapshots/s/noarch/a.conda"
    assert copy.read_bytes() == b"bytes"
    assert copy.stat().st_ino != (tmp_path / "c" / "noarch" / "a.conda").stat().st_ino
    assert copy.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in copy.parent.iterdir()) == ["a.conda"]
