"""A signed publish after another in the same process (trust/recent.py): unchanged records come
from the last publish, the `signatures` member is the last one with the changed segments
re-encoded, and the result is byte for byte what signing the whole document gives. A record
whose bytes change (a patch) is signed again; a removed record leaves the map."""

from __future__ import annotations

import json
import random
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

from stockyard.catalog import PublishRow
from stockyard.cli.main import main
from stockyard.trust import cache as cache_module
from stockyard.trust import recent as recent_module
from stockyard.trust import sign as sign_module
from stockyard.trust.cache import SignatureCache, cache_path
from stockyard.trust.canonical import canonical_bytes
from stockyard.trust.inline import InlineSigner
from stockyard.trust.keys import SigningKey, generate_key, verify_raw
from stockyard.trust.layout import TrustLayout
from stockyard.trust.member import SignaturesMember
from stockyard.trust.recent import RecentSigned
from stockyard.trust.repodata_io import read_document
from stockyard.trust.sign import SubdirSigner
from stockyard.trust.verify import verify_channel
from stockyard.types.encoding import encode_json
from tests.index.conftest import build_artifact
from tests.trust.test_inline import RECORD, _row, _write


class _Builds:
    """Counts whole builds of a non-empty `signatures` member."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        build = SignaturesMember.build.__func__  # type: ignore[attr-defined]

        def counted(
            cls: type[SignaturesMember], encoder: Any, names: list[str], signatures: Any
        ) -> SignaturesMember:
            self.count += bool(names)  # an empty subdir published for the first time is free
            return build(cls, encoder, names, signatures)  # type: ignore[no-any-return]

        monkeypatch.setattr(SignaturesMember, "build", classmethod(counted))


def _signed_whole(unsigned: bytes, key: SigningKey, tmp: Path) -> bytes:
    """The document signed from scratch (its own cache, nothing remembered)."""
    document = read_document(unsigned, "unsigned")
    signer = SubdirSigner.for_channel(tmp, "noarch", key)
    signer.add_all(document.records())
    return document.with_signatures(signer.signatures_bytes())


def _publish(channel: Path, key: SigningKey, rows: list[PublishRow]) -> tuple[bytes, int]:
    """(repodata.json, records signed now), the signer finished as the publisher does."""
    signer = InlineSigner(channel, "noarch", key)
    _, published = _write(rows, patched=True, signer=signer)
    signer.finish()
    return published, signer.signed


def test_a_publish_after_another_signs_only_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, channel = generate_key(), tmp_path / "channel"
    first = [
        _row("a-1-0.conda", RECORD),
        _row("b-1-0.conda", {**RECORD, "name": "b"}, {**RECORD, "name": "b", "depends": ["x"]}),
        _row("c-1-0.conda", {**RECORD, "name": "c"}),
        _row("d-1-0.conda", {**RECORD, "name": "d", "flags": ["gpu"]}),  # under `v3`
        _row('q"uote-1-0.conda', {**RECORD, "name": "q"}),  # an escaped key
    ]
    published, signed = _publish(channel, key, first)
    assert signed == 5
    builds = _Builds(monkeypatch)
    # b patched otherwise (new bytes), c removed, e added, the others as they were.
    second = [
        first[0],
        _row("b-1-0.conda", {**RECORD, "name": "b"}, {**RECORD, "name": "b", "depends": ["y"]}),
        first[3],
        first[4],
        _row("e-1-0.conda", {**RECORD, "name": "e"}),
    ]
    published, signed = _publish(channel, key, second)
    assert signed == 2 and builds.count == 0  # b and e; the member only updated
    _, unsigned = _write(second, patched=True, signer=None)
    assert published == _signed_whole(unsigned, key, tmp_path / "whole")
    document = json.loads(published)
    assert set(document["signatures"]) == {
        "a-1-0.conda",
        "b-1-0.conda",
        "d-1-0.conda",
        'q"uote-1-0.conda',
        "e-1-0.conda",
    }
    ((public, entry),) = document["signatures"]["b-1-0.conda"].items()
    b_record = document["packages.conda"]["b-1-0.conda"]
    assert b_record["depends"] == ["y"]
    assert verify_raw(public, entry["signature"], canonical_bytes(b_record))
    # The same records again: nothing signed, the same bytes.
    builds.count = 0
    assert _publish(channel, key, second) == (published, 0)
    assert builds.count == 0


def test_the_cache_on_disk_stays_complete(tmp_path: Path) -> None:
    """When another process rewrote the cache (here: it is lost), records this process takes
    from its last publish are put back into it."""
    key, channel = generate_key(), tmp_path / "channel"
    rows = [_row(f"p{n}-1-0.conda", {**RECORD, "name": f"p{n}"}) for n in range(6)]
    _publish(channel, key, rows)
    path = cache_path(TrustLayout(channel).cache_dir, "noarch", key.public_hex)
    for stale in path.parent.iterdir():
        stale.unlink()
    cache_module._MEMORY.clear()  # as if another process had written other files
    published, signed = _publish(channel, key, [*rows, _row("z-1-0.conda", RECORD)])
    assert signed == 1
    cache_module._MEMORY.clear()
    assert len(SignatureCache(path).known) == 7
    # A process that starts now signs nothing: everything is in the cache.
    fresh = SubdirSigner.for_channel(channel, "noarch", key)
    fresh.add_all(read_document(published, "published").records())
    assert fresh.cache.misses == 0


def _patch_file(tmp_path: Path, depends: list[str]) -> Path:
    path = tmp_path / f"patch-{len(depends)}.json"
    instructions = {
        "patch_instructions_version": 1,
        "packages": {},
        "packages.conda": {"pkg1-1.0-0.conda": {"depends": depends}},
        "remove": [],
        "revoke": [],
    }
    path.write_text(json.dumps(instructions))
    return path


def test_index_patch_and_remove_in_a_signed_channel(
    tmp_path: Path,
    keys_dir: Path,
    passphrase: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    channel = tmp_path / "indexed"
    artifacts = [build_artifact(channel, "linux-64", f"pkg{n}") for n in range(4)]
    assert main(["index", str(channel)]) == 0
    assert main(["trust", "init", str(channel), "--keys-dir", str(keys_dir)]) == 0
    build_artifact(channel, "linux-64", "pkg-new")
    assert main(["index", str(channel)]) == 0  # signed inline: remembered from now on
    builds = _Builds(monkeypatch)
    artifacts[2].unlink()
    patch = _patch_file(tmp_path, ["patched-dep"])
    assert main(["index", str(channel), "--patch-generator", str(patch)]) == 0
    capsys.readouterr()
    assert builds.count == 0  # the last publish's member, updated

    data = (channel / "linux-64" / "repodata.json").read_bytes()
    document = json.loads(data)
    assert "pkg2-1.0-0.conda" not in document["signatures"]
    assert set(document["signatures"]) == set(document["packages.conda"])
    assert document["packages.conda"]["pkg1-1.0-0.conda"]["depends"] == ["patched-dep"]
    assert verify_channel(channel).ok
    key = sign_module.load_channel_signer(channel)
    unsigned = read_document(data, "published").with_signatures(None)
    assert data == _signed_whole(unsigned, key, tmp_path / "whole")


def _ordered(records: dict[str, bytes], at_end: set[str]) -> list[tuple[str, bytes]]:
    """Publish order: each section sorted by filename, then the `v3` records."""
    tar = sorted(n for n in records if n.endswith(".tar.bz2") and n not in at_end)
    conda = sorted(n for n in records if n.endswith(".conda") and n not in at_end)
    return [(n, records[n]) for n in [*tar, *conda, *sorted(at_end & records.keys())]]


def test_random_edits_give_what_signing_everything_gives(tmp_path: Path) -> None:
    """Inserts (alone and adjacent), removals (one, or a run longer than the look-ahead),
    patched bytes, records moving to the end (`v3`), in batches of any size: each publish's
    member is byte for byte that of a signer that remembers nothing."""
    rng = random.Random(7)
    key = generate_key()
    cache = cache_path(tmp_path / "cache", "noarch", key.public_hex)

    def record() -> bytes:
        return encode_json({**RECORD, "build": rng.randbytes(6).hex()})

    def name() -> str:
        return f"p{rng.randrange(10**5):05d}-1-0" + rng.choice([".conda", ".tar.bz2"])

    records = {name(): record() for _ in range(300)}
    at_end: set[str] = set()
    for round_ in range(30):
        order = _ordered(records, at_end)
        signer = SubdirSigner(key, SignatureCache(cache), remember_publish=True)
        start = 0
        while start < len(order):  # batches as the catalog hands them over
            size = rng.choice([1, 7, 50, 400])
            signer.add_all(order[start : start + size])
            start += size
        member = signer.signatures_bytes()
        signer.finish("noarch")
        whole = SubdirSigner(key, SignatureCache(tmp_path / "whole.msgpack"))
        whole.add_all([(n, bytes(r)) for n, r in order])
        assert member == whole.signatures_bytes(), round_
        assert signer.entries == whole.entries, round_  # what current_repodata.json takes
        names = sorted(records)
        edit = rng.choice(["insert", "insert2", "remove", "remove_run", "patch", "move", "mix"])
        if edit in ("insert", "mix"):
            records[name()] = record()
        if edit == "insert2":  # two neighbours
            stem = f"p{rng.randrange(10**5):05d}"
            records[stem + "a-1-0.conda"] = records[stem + "b-1-0.conda"] = record()
        if edit in ("remove", "mix"):
            del records[rng.choice(names)]
        if edit == "remove_run":
            first = rng.randrange(len(names) - 20)
            for gone in names[first : first + 12]:
                del records[gone]
        if edit in ("patch", "mix"):
            records[rng.choice(sorted(records))] = record()
        if edit == "move":
            at_end.add(rng.choice(sorted(records)))


def test_kept_for_the_last_subdirs_within_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent_module, "_RECENT", OrderedDict())
    monkeypatch.setattr(recent_module, "_MAX_RECORDS", 10)

    def state(records: int) -> RecentSigned:
        empty = SignaturesMember((), ())
        return RecentSigned(["f"] * records, array("q"), array("q"), [], empty, {})

    for name in "abc":
        recent_module.remember(Path(name), "key", state(4))
    assert recent_module.recall(Path("a"), "key") is None  # 12 records: the oldest goes
    assert recent_module.recall(Path("b"), "key") is not None
    assert recent_module.recall(Path("b"), "other key") is None
    recent_module.remember(Path("d"), "key", state(30))  # over the budget alone: still kept
    assert list(recent_module._RECENT) == [(Path("d"), "key")]


def test_the_shortcut_is_off_when_the_hash_seed_is_fixed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stockyard.trust import recent

    monkeypatch.setenv("PYTHONHASHSEED", "123")
    assert not recent._hash_is_secret()
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    assert recent._hash_is_secret()
    monkeypatch.setattr(recent, "_HASH_IS_SECRET", False)
    assert recent.recall(Path("/nowhere"), "ab") is None
