"""The `signatures` member in segments (trust/member.py): whatever sequence of additions,
re-signatures and removals, the updated member is byte for byte `encode_json` of the map."""

from __future__ import annotations

import random

import pytest

from stockyard.trust import member as member_module
from stockyard.trust.member import EntryEncoder, SignaturesMember
from stockyard.types.encoding import encode_json

PUBLIC = "ab" * 32


def _expected(signatures: dict[str, bytes]) -> bytes:
    return encode_json({n: {PUBLIC: {"signature": s.hex()}} for n, s in signatures.items()})


def _name(rng: random.Random) -> str:
    stem = f"pkg-{rng.randrange(10**6):06d}-1.0-0"
    odd = rng.random()
    if odd < 0.05:
        stem += '"q'  # escaped by JSON: the exact path of the encoder
    elif odd < 0.1:
        stem += "\u00e9\u2028"
    return stem + rng.choice([".conda", ".tar.bz2"])


@pytest.mark.parametrize("segment", [4, 1024])
def test_updates_equal_encoding_the_whole_map(
    monkeypatch: pytest.MonkeyPatch, segment: int
) -> None:
    monkeypatch.setattr(member_module, "SEGMENT_ENTRIES", segment)
    rng = random.Random(segment)
    encoder = EntryEncoder(PUBLIC)
    current = {_name(rng): rng.randbytes(64) for _ in range(300)}
    member = SignaturesMember.build(encoder, list(current), list(current.values()))
    assert member.encoded() == _expected(current)
    for _round in range(40):
        names = list(current)
        removed = set(rng.sample(names, rng.randrange(0, 6)))
        resigned = rng.sample([n for n in names if n not in removed], rng.randrange(0, 4))
        # Sometimes many new names at once: segments grow past twice their size and split.
        added = [_name(rng) for _ in range(rng.choice([0, 1, 3, 40]))]
        changed = {n: rng.randbytes(64) for n in [*resigned, *added] if n not in removed}
        for name in removed:
            del current[name]
        current.update(changed)
        member = member.updated(encoder, changed, removed)
        assert member.encoded() == _expected(current)
        assert member.entries == len(current)
        assert list(member.starts) == sorted(member.starts)
        assert all(len(s.names) <= 2 * segment for s in member.segments)
    # Everything removed, then a fresh start from the empty member.
    member = member.updated(encoder, {}, set(current))
    assert member.encoded() == b"{}" and member.segments == ()
    one = {"a-1-0.conda": b"\x01" * 64}
    assert member.updated(encoder, one, set()).encoded() == _expected(one)


def test_unchanged_segments_are_shared() -> None:
    encoder = EntryEncoder(PUBLIC)
    names = [f"p-{n:05d}-1-0.conda" for n in range(5000)]
    signatures = [n.to_bytes(64, "big") for n in range(5000)]
    member = SignaturesMember.build(encoder, names, signatures)
    later = member.updated(encoder, {"p-02500x-1-0.conda": b"\x02" * 64}, set())
    kept = {id(s) for s in member.segments} & {id(s) for s in later.segments}
    assert len(kept) == len(member.segments) - 1  # only the one the new name falls in
