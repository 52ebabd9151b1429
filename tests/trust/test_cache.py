"""The signature cache (trust/cache.py): a base map plus an append-only log, compacted when the
log grows long or entries go stale, torn entries ignored, kept in memory while its files are."""

from __future__ import annotations

import os
from pathlib import Path

from stockyard.trust import cache as cache_module
from stockyard.trust.cache import SignatureCache


def _entry(number: int) -> tuple[bytes, bytes]:
    return number.to_bytes(32, "big"), bytes([number % 256]) * 64


def _forget_memory() -> None:
    cache_module._MEMORY.clear()


def test_new_signatures_go_to_the_log_then_the_base(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "noarch.key.msgpack"
    first = SignatureCache(path)
    for number in range(10):
        first.put(*_entry(number))
    first.used = [_entry(n)[0] for n in range(10)]
    assert first.save()
    assert not path.exists() and first.log_path.stat().st_size == 10 * 96  # a few: logged

    _forget_memory()
    second = SignatureCache(path)
    assert second.known == dict(_entry(n) for n in range(10))
    many = range(10, 10 + 3000)  # more than the log may hold: the base is rewritten
    for number in many:
        second.put(*_entry(number))
    second.used = [_entry(n)[0] for n in range(10 + 3000)]
    assert second.save() and second.misses == 3000
    assert path.is_file() and not second.log_path.exists()
    _forget_memory()
    assert len(SignatureCache(path).known) == 3010


def test_stale_entries_are_dropped_by_compaction(tmp_path: Path) -> None:
    path = tmp_path / "noarch.key.msgpack"
    full = SignatureCache(path)
    for number in range(5000):
        full.put(*_entry(number))
    full.used = [_entry(n)[0] for n in range(5000)]
    full.save()
    _forget_memory()
    fewer = SignatureCache(path)
    fewer.used = [_entry(n)[0] for n in range(1000)]  # the other records left the subdir
    assert fewer.save()
    _forget_memory()
    assert set(SignatureCache(path).known) == {_entry(n)[0] for n in range(1000)}


def test_a_torn_log_entry_is_ignored_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "noarch.key.msgpack"
    cache = SignatureCache(path)
    cache.put(*_entry(1))
    cache.used = [_entry(1)[0]]
    cache.save()
    with open(cache.log_path, "ab") as handle:
        handle.write(b"\x01" * 50)  # a crash in the middle of an append
    _forget_memory()
    again = SignatureCache(path)
    assert again.known == dict([_entry(1)])
    again.put(*_entry(2))
    again.used = [_entry(1)[0], _entry(2)[0]]
    again.save()
    assert again.log_path.stat().st_size == 2 * 96
    _forget_memory()
    assert SignatureCache(path).known == dict([_entry(1), _entry(2)])


def test_kept_in_memory_until_the_files_change(tmp_path: Path) -> None:
    path = tmp_path / "noarch.key.msgpack"
    cache = SignatureCache(path)
    cache.put(*_entry(1))
    cache.used = [_entry(1)[0]]
    cache.save()
    assert SignatureCache(path).known is cache.known  # the same process, the same files
    os.truncate(cache.log_path, 0)  # changed behind its back: read again
    assert SignatureCache(path).known == {}
