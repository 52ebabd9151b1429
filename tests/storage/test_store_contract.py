"""The `Store` contract, run against every backend (LocalStore and S3Store on moto's server)."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest

from stockyard.storage import Store
from stockyard.storage.base import InvalidKey
from stockyard.storage.s3_reader import ObjectChanged

MiB = 1 << 20


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "sources" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _pattern(size: int, seed: int) -> bytes:
    """Distinct, non-repeating-looking bytes, so a spliced read cannot pass for a whole one."""
    block = seed.to_bytes(4, "big") + os.urandom(4092)
    return (block * (size // len(block) + 1))[:size]


def test_put_get_overwrite_stat(store: Store) -> None:
    before = time.time_ns()
    store.put("linux-64/a-1-0.conda", b"one")
    store.put("linux-64/a-1-0.conda", b"second")
    assert store.get("linux-64/a-1-0.conda") == b"second"
    info = store.stat("linux-64/a-1-0.conda")
    assert info is not None
    assert (info.key, info.size) == ("linux-64/a-1-0.conda", 6)
    # S3 keeps whole seconds: allow for the truncation and a little clock skew.
    assert before - 2_000_000_000 <= info.mtime_ns <= time.time_ns() + 2_000_000_000


def test_empty_object(store: Store) -> None:
    store.put("noarch/empty.json", b"")
    assert store.get("noarch/empty.json") == b""
    with store.open("noarch/empty.json") as stream:
        assert stream.read() == b""
    info = store.stat("noarch/empty.json")
    assert info is not None and info.size == 0


def test_missing_objects(store: Store) -> None:
    assert store.stat("linux-64/missing.conda") is None
    with pytest.raises(FileNotFoundError):
        store.get("linux-64/missing.conda")
    with pytest.raises(FileNotFoundError):
        store.open("linux-64/missing.conda")
    store.delete("linux-64/missing.conda")  # deleting what is not there is not an error
    with pytest.raises(FileNotFoundError):
        store.move("linux-64/missing.conda", "linux-64/other.conda")


def test_directory_is_not_an_object(store: Store) -> None:
    store.put("linux-64/a.conda", b"x")
    assert store.stat("linux-64") is None


def test_list_is_one_level_and_exact(store: Store) -> None:
    for key in [
        "linux-64/a-1-0.conda",
        "linux-64/b-1-0.tar.bz2",
        "linux-64/nested/c.json",
        "linux-64-extra/d.conda",  # shares a string prefix, not the directory
        "linux-64/.hidden",
        "top.json",
    ]:
        store.put(key, key.encode())
    listed = sorted(store.list("linux-64"), key=lambda info: info.key)
    assert [(i.key, i.size) for i in listed] == [
        ("linux-64/a-1-0.conda", len(b"linux-64/a-1-0.conda")),
        ("linux-64/b-1-0.tar.bz2", len(b"linux-64/b-1-0.tar.bz2")),
    ]
    assert [i.key for i in store.list()] == ["top.json"]
    assert list(store.list("linux")) == []
    assert list(store.list("missing")) == []
    assert [i.key for i in store.list("linux-64/nested")] == ["linux-64/nested/c.json"]


def test_list_dirs(store: Store) -> None:
    for key in [
        "noarch/a.conda",
        "linux-64/a.conda",
        "linux-64/sub/deeper/b.json",
        ".stockyard/staged/linux-64/x.conda",
        "channeldata.json",
    ]:
        store.put(key, b"x")
    assert store.list_dirs() == ["linux-64", "noarch"]  # sorted, hidden left out
    assert store.list_dirs("linux-64") == ["sub"]
    assert store.list_dirs("linux-64/sub") == ["deeper"]
    assert store.list_dirs(".stockyard") == ["staged"]  # hidden only when listed from above
    assert [i.key for i in store.list(".stockyard/staged/linux-64")] == [
        ".stockyard/staged/linux-64/x.conda"
    ]
    assert store.list_dirs("noarch") == []
    assert store.list_dirs("missing") == []


def test_file_sizes_match_list(store: Store) -> None:
    store.put("osx-64/a.conda", b"12345")
    store.put("osx-64/b.conda", b"1")
    store.put("osx-64/deep/c.conda", b"123")
    sizes = store.file_sizes("osx-64")
    assert {name: size for name, (size, _) in sizes.items()} == {"a.conda": 5, "b.conda": 1}
    listed = {
        info.key.rsplit("/", 1)[1]: (info.size, info.mtime_ns) for info in store.list("osx-64")
    }
    assert sizes == listed
    stat = store.stat("osx-64/a.conda")
    assert stat is not None and sizes["a.conda"] == (stat.size, stat.mtime_ns)
    assert store.file_sizes("missing") == {}


def test_move_replaces_target(store: Store) -> None:
    store.put(".stockyard/staged/noarch/x.conda.1234", b"new bytes")
    store.put("noarch/x.conda", b"old")
    mtime_ns = store.move(".stockyard/staged/noarch/x.conda.1234", "noarch/x.conda")
    assert store.get("noarch/x.conda") == b"new bytes"
    assert store.stat(".stockyard/staged/noarch/x.conda.1234") is None
    # What a move reports is what the listing will show (a commit records it in the row).
    assert mtime_ns == store.file_sizes("noarch")["x.conda"][1]
    store.move("noarch/x.conda", "noarch/x.conda")  # onto itself: nothing changes
    assert store.get("noarch/x.conda") == b"new bytes"


def test_move_large_object(store: Store) -> None:
    """Above the copy threshold S3 copies in parts (the tests set a small threshold)."""
    data = _pattern(11 * MiB, 7)
    store.put("staged/big.conda", data)
    store.move("staged/big.conda", "linux-64/big.conda")
    assert store.get("linux-64/big.conda") == data
    assert store.stat("staged/big.conda") is None


def test_copy_keeps_the_source_and_replaces_the_target(store: Store) -> None:
    store.put("noarch/x.conda", b"published")
    store.put("snapshots/s1/noarch/x.conda", b"older")
    store.copy("noarch/x.conda", "snapshots/s1/noarch/x.conda")
    assert store.get("snapshots/s1/noarch/x.conda") == b"published"
    assert store.get("noarch/x.conda") == b"published"
    store.copy("noarch/x.conda", "noarch/x.conda")  # onto itself: nothing changes
    assert store.get("noarch/x.conda") == b"published"
    assert [i.key for i in store.list("noarch")] == ["noarch/x.conda"]  # no temporary left
    with pytest.raises(FileNotFoundError):
        store.copy("noarch/missing.conda", "elsewhere.conda")
    with pytest.raises(FileNotFoundError):
        store.copy("noarch", "elsewhere")  # a directory is not an object
    assert store.stat("elsewhere.conda") is None and store.stat("elsewhere") is None


def test_a_copy_keeps_its_bytes_when_the_source_is_replaced_or_deleted(
    store: Store, tmp_path: Path
) -> None:
    """What snapshots rely on: writes replace objects, so a (hard-linked) copy never changes."""
    store.put("noarch/repodata.json", b"version 1")
    store.copy("noarch/repodata.json", "snapshots/s1/noarch/repodata.json")
    store.put("noarch/repodata.json", b"version 2")
    assert store.get("snapshots/s1/noarch/repodata.json") == b"version 1"
    store.put_file("noarch/repodata.json", _file(tmp_path, "v3", b"version 3"))
    store.move("noarch/repodata.json", "noarch/moved.json")
    store.delete("noarch/moved.json")
    assert store.get("snapshots/s1/noarch/repodata.json") == b"version 1"


def test_copy_large_object(store: Store) -> None:
    """Above the copy threshold S3 copies in parts (the tests set a small threshold)."""
    data = _pattern(11 * MiB, 9)
    store.put("linux-64/big.conda", data)
    store.copy("linux-64/big.conda", "snapshots/s1/linux-64/big.conda")
    assert store.get("snapshots/s1/linux-64/big.conda") == data
    assert store.get("linux-64/big.conda") == data


def test_put_file_consumes_source(store: Store, tmp_path: Path) -> None:
    source = _file(tmp_path, "upload.tmp", b"payload")
    store.put_file("noarch/x-1-0.conda", source)
    assert not source.exists()
    assert store.get("noarch/x-1-0.conda") == b"payload"


def test_put_file_above_the_multipart_threshold(store: Store, tmp_path: Path) -> None:
    data = _pattern(11 * MiB + 123, 1)
    store.put_file("linux-64/big-1-0.conda", _file(tmp_path, "big", data))
    assert store.get("linux-64/big-1-0.conda") == data
    info = store.stat("linux-64/big-1-0.conda")
    assert info is not None and info.size == len(data)


def test_put_bytes_above_the_multipart_threshold(store: Store) -> None:
    data = _pattern(7 * MiB, 2)
    store.put("linux-64/big.json", data)
    assert store.get("linux-64/big.json") == data


def test_open_seek_and_ranged_reads(store: Store) -> None:
    data = _pattern(3 * MiB + 17, 3)
    store.put("linux-64/ranged.conda", data)
    with store.open("linux-64/ranged.conda") as stream:
        assert stream.seekable()
        assert stream.read(10) == data[:10]
        assert stream.seek(2 * MiB) == 2 * MiB
        assert stream.read(100) == data[2 * MiB : 2 * MiB + 100]
        assert stream.tell() == 2 * MiB + 100
        stream.seek(-50, io.SEEK_END)
        assert stream.read() == data[-50:]
        assert stream.read(10) == b""  # at the end
        stream.seek(-1000, io.SEEK_END)
        stream.seek(-24, io.SEEK_CUR)
        assert stream.read(24) == data[-1024:-1000]
        stream.seek(5)
        assert stream.read() == data[5:]  # a long sequential read after a seek
        stream.seek(len(data) + 10)
        assert stream.read(1) == b""


def test_open_streams_in_chunks(store: Store) -> None:
    data = _pattern(2 * MiB + 1, 4)
    store.put("noarch/stream.conda", data)
    out = io.BytesIO()
    with store.open("noarch/stream.conda") as stream:
        while chunk := stream.read(64 * 1024):
            out.write(chunk)
    assert out.getvalue() == data


def test_download_writes_the_whole_object_with_its_info(store: Store) -> None:
    data = _pattern(2 * MiB + 7, 8)
    store.put("noarch/whole.conda", data)
    out = io.BytesIO()
    got = store.download("noarch/whole.conda", out)
    assert out.getvalue() == data
    info = store.stat("noarch/whole.conda")
    assert info is not None
    assert (got.size, got.mtime_ns) == (info.size, info.mtime_ns) == (len(data), info.mtime_ns)
    empty = io.BytesIO()
    store.put("noarch/empty.json", b"")
    assert store.download("noarch/empty.json", empty).size == 0
    assert empty.getvalue() == b""


def test_download_of_nothing_is_file_not_found(store: Store) -> None:
    store.put("linux-64/a.conda", b"x")
    for key in ("linux-64/missing.conda", "linux-64", "linux-64/a.conda/inner"):
        out = io.BytesIO()
        with pytest.raises(FileNotFoundError):
            store.download(key, out)
        assert out.getvalue() == b""


def test_open_reader_never_splices_versions(store: Store) -> None:
    old, new = _pattern(2 * MiB, 5), _pattern(2 * MiB, 6)
    store.put("linux-64/r.conda", old)
    with store.open("linux-64/r.conda") as stream:
        head = stream.read(1000)
        store.put("linux-64/r.conda", new)
        stream.seek(MiB)
        try:
            rest = stream.read()
        except ObjectChanged:  # S3: the version the reader opened is gone
            return
    assert head + rest == old[:1000] + old[MiB:]  # a local file keeps its old inode


def test_concurrent_puts_and_gets_are_atomic(store: Store, tmp_path: Path) -> None:
    """Readers see one whole version or another, never a torn one, while writers replace the
    object with single PUTs and with multipart uploads."""
    small = [_pattern(2 * MiB, seed) for seed in (10, 11)]
    large = [_pattern(7 * MiB, seed) for seed in (12, 13)]
    whole = {bytes(v) for v in small + large}
    store.put("linux-64/hot.conda", small[0])
    stop = threading.Event()
    errors: list[str] = []

    def write(worker: int) -> None:
        turn = 0
        while not stop.is_set():
            turn += 1
            data = (small if worker == 0 else large)[turn % 2]
            if worker == 0:
                store.put("linux-64/hot.conda", data)
            else:
                store.put_file("linux-64/hot.conda", _file(tmp_path, f"w{turn}", data))

    def read() -> None:
        while not stop.is_set():
            seen = store.get("linux-64/hot.conda")
            if seen not in whole:
                errors.append(f"torn read of {len(seen)} bytes")

    threads = [threading.Thread(target=write, args=(w,)) for w in (0, 1)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert errors == []


BAD_KEYS = ["../x", "/etc/passwd", "a/../../b", "a//b", "a/./b", "a\\b", "x/ y"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_traversal_is_refused_everywhere(store: Store, key: str, tmp_path: Path) -> None:
    source = _file(tmp_path, "f", b"x")
    calls = [
        lambda: store.put(key, b"x"),
        lambda: store.put_file(key, source),
        lambda: store.get(key),
        lambda: store.open(key),
        lambda: store.stat(key),
        lambda: list(store.list(key)),
        lambda: store.list_dirs(key),
        lambda: store.file_sizes(key),
        lambda: store.move(key, "ok"),
        lambda: store.move("ok", key),
        lambda: store.copy(key, "ok"),
        lambda: store.copy("ok", key),
        lambda: store.delete(key),
        lambda: store.local_path(key),
    ]
    store.put("ok", b"x")
    for call in calls:
        with pytest.raises(InvalidKey):
            call()
    assert source.exists() and store.get("ok") == b"x"


def test_child_is_the_directory_inside(store: Store) -> None:
    store.put("channels/main/noarch/repodata.json", b"{}")
    child = store.child("channels/main")
    assert child.get("noarch/repodata.json") == b"{}"
    child.put("linux-64/x.json", b"1")
    assert store.get("channels/main/linux-64/x.json") == b"1"
    assert child.list_dirs() == ["linux-64", "noarch"]
    with pytest.raises(InvalidKey):
        store.child("../elsewhere")


def test_delete_tree_removes_hidden_and_nested_objects_of_the_child_only(store: Store) -> None:
    store.put("channels/a/noarch/repodata.json", b"{}")
    store.put("channels/a/.stockyard/staged/x", b"staged")
    store.put("channels/ab/noarch/repodata.json", b"keep")
    store.child("channels/a").delete_tree()
    assert store.stat("channels/a/noarch/repodata.json") is None
    assert store.stat("channels/a/.stockyard/staged/x") is None
    assert store.get("channels/ab/noarch/repodata.json") == b"keep"
