"""Monolithic per-subdir files, assembled from cached per-record JSON.

One streaming pass over the catalog writes `repodata_from_packages.json` (records as read from
the artifacts), `repodata.json` (patched) and `run_exports.json` (CEP 12) side by side; records
are not decoded or re-encoded, except the few a patch changed (for their run_exports,
`types.published_run_exports`) and those that pass `may_need_v3`'s byte test (`publish.revisions`).
Records with CEP 43/44/45 syntax go under `v3` instead of `packages` / `packages.conda` (CEP 48);
`info.repodata_revisions` announces them. `info` is written first, before the `v3` records are
known: a document that has some is written with the plain `info` and its head replaced after
(`replace_head`). The bytes equal `encode_json` of the whole document (tested).

A signed channel (conda-content-trust, docs/trust.md) passes a `RecordSigner`: every record of
the document published as repodata.json (its `v3` records in their `v3` form) goes through it
in the same pass, and its top-level `signatures` member is written in key order, between
`repodata_version` and `v3`. So repodata.json, its `.zst`, `.gz` and `.bz2` are written once,
signed, and the catalog records the hashes of the bytes actually published. The signer signs
only records it has not signed before (its cache); without one, nothing here changes.
"""

from __future__ import annotations

import bz2
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import Any, Protocol

from stockyard.publish.revisions import V3, V3_NEEDLES, V3Section, may_need_v3
from stockyard.types.encoding import encode_json, encode_json_key, zstd_compressor
from stockyard.types.published_run_exports import patched_run_exports_bytes


class Sink(Protocol):
    """Where published bytes are streamed (a file, or the publisher's hashing writer)."""

    def write(self, data: bytes, /) -> int: ...


class RecordSigner(Protocol):
    """Signs the records of one published document (`stockyard.trust.inline.InlineSigner`)."""

    def add_records(self, names: list[str], records: list[bytes], /) -> None:
        """Filenames and record bytes as published (same length), in publish order (any order
        signs right; the same order every time is what lets the signer compare publishes)."""

    def signatures_member(self) -> list[bytes]:
        """The encoded `signatures` map of every record added (keys sorted), in pieces to
        write one after the other (a large map is not copied whole)."""
        ...


SECTIONS = (("packages", ".tar.bz2"), ("packages.conda", ".conda"))
#: Columns of a publish row (`PublishRow` field order): filename, record bytes.
_FILENAME, _RECORD = itemgetter(0), itemgetter(2)
_EMPTY_RUN_EXPORTS = b'{"run_exports":{}}'


@dataclass(slots=True)
class MonolithicResult:
    """What `write_monolithic` learned while streaming."""

    #: Filenames that patches removed (listed in the patched file's `removed`).
    patch_removed: list[str]
    #: `head` is what each document starts with; a document whose `*_head` is set must have
    #: its first `len(head)` bytes replaced by it (it has `v3` records, so its `info` names
    #: them in `repodata_revisions`).
    head: bytes
    from_packages_head: bytes | None = None
    patched_head: bytes | None = None


def write_monolithic(
    sections: Iterable[tuple[str, Iterable[Sequence[tuple[Any, ...]]]]],
    *,
    info: dict[str, Any],
    repodata_version: int,
    removed_from_packages: list[str],
    from_packages: Sink,
    patched: Sink | None,
    run_exports: Sink,
    listing: list[tuple[str, int, int, str]] | None = None,
    signer: RecordSigner | None = None,
) -> MonolithicResult:
    """Write the files; see `MonolithicResult` for what the caller must finish.

    `sections` yields ("packages", batches of .tar.bz2 rows) then ("packages.conda", batches of
    .conda rows), each sorted by filename; a row is a `PublishRow` or a plain tuple in its field
    order. The patched file's `removed` lists catalog removals plus patch removals; it is
    written last, so the patch-removed names are known by then. `patched=None` means no record
    is patched or removed by patches: repodata.json is then byte-identical to
    repodata_from_packages.json and the caller publishes that. `listing`, when given, receives
    (filename, size, indexed_timestamp, sha256) of every row (for index.html). `signer`, when
    given, signs the records of the document published as repodata.json (`patched`, or
    `from_packages` when `patched` is None: then both names keep the same, signed, bytes) and
    that document gets its `signatures` member.
    """
    out = _Streams(from_packages, patched, run_exports, listing, signer)
    head = out.begin(info)
    for key, batches in sections:
        out.begin_section(key)
        for batch in batches:
            out.write_batch(batch)
        out.end_section()
    out.end(removed_from_packages, repodata_version)
    return MonolithicResult(
        patch_removed=out.patch_removed,
        head=head,
        from_packages_head=_revised_head(info, out.raw_v3),
        patched_head=_revised_head(info, out.pat_v3) if patched is not None else None,
    )


def _head(info: dict[str, Any]) -> bytes:
    return b'{"info":' + encode_json(info)


def _revised_head(info: dict[str, Any], v3: V3Section) -> bytes | None:
    revision = v3.revision()
    if revision is None:
        return None
    return _head({**info, "repodata_revisions": {V3: revision}})


def replace_head(source: Path, old_length: int, head: bytes, target: Sink) -> None:
    """Copy `source` to `target` with its first `old_length` bytes replaced by `head`."""
    target.write(head)
    with open(source, "rb") as handle:
        handle.seek(old_length)
        while chunk := handle.read(1 << 20):
            target.write(chunk)


@dataclass(slots=True)
class _Streams:
    """The three documents written side by side, one section and batch at a time."""

    raw: Sink
    patched: Sink | None
    rex: Sink
    listing: list[tuple[str, int, int, str]] | None
    signer: RecordSigner | None = None
    patch_removed: list[str] = field(default_factory=list)
    raw_v3: V3Section = field(default_factory=V3Section)
    pat_v3: V3Section = field(default_factory=V3Section)
    #: Whether each document's current map already has an entry (the next needs a comma).
    raw_open: bool = False
    pat_open: bool = False
    rex_open: bool = False

    def _both(self, data: bytes) -> None:
        self.raw.write(data)
        if self.patched is not None:
            self.patched.write(data)

    def begin(self, info: dict[str, Any]) -> bytes:
        head = _head(info)
        self._both(head)
        self.rex.write(b'{"info":' + encode_json({"subdir": info.get("subdir")}))
        return head

    def begin_section(self, key: str) -> None:
        head = b"," + encode_json_key(key) + b":{"
        self._both(head)
        self.rex.write(head)
        self.raw_open = self.pat_open = self.rex_open = False

    def write_batch(self, batch: Sequence[tuple[Any, ...]]) -> None:
        # The hot loop of every publish: one tuple unpack and a few list appends per artifact.
        # Only patched records are decoded (for their run_exports); `v3` records are looked for
        # in the joined batch afterwards, with a few C-speed byte searches.
        raw: list[bytes] = []
        pat: list[bytes] = []
        rex: list[bytes] = []
        key_of = encode_json_key
        listing = self.listing
        with_patches = self.patched is not None
        patch_marked = False
        for filename, _name, record, patch, removed, exports, size, sha, stamp in batch:
            name = key_of(filename) + b":"
            if listing is not None:
                listing.append((filename, size, stamp, sha))
            if patch is not None:
                exports = patched_run_exports_bytes(record, patch, exports)
                patch_marked = patch_marked or may_need_v3(patch)
            entry = _EMPTY_RUN_EXPORTS if exports is None else b'{"run_exports":' + exports + b"}"
            rex.append(name + entry)
            raw.append(name + record)
            if with_patches:
                if removed:
                    self.patch_removed.append(filename)
                else:
                    pat.append(name + (patch if patch is not None else record))
        self.rex_open = _write_chunk(self.rex, b",".join(rex), self.rex_open)
        raw_chunk = b",".join(raw)
        if may_need_v3(raw_chunk) or patch_marked:
            kept, pat = self._take_v3(batch, raw, raw_chunk, pat, patch_marked)
            raw_chunk = raw_chunk if kept is raw else b",".join(kept)
        self.raw_open = _write_chunk(self.raw, raw_chunk, self.raw_open)
        if self.patched is not None:
            self.pat_open = _write_chunk(self.patched, b",".join(pat), self.pat_open)
        if self.signer is not None:
            self._sign_batch(batch)

    @property
    def _signed_v3(self) -> V3Section:
        """The `v3` records of the document published as repodata.json."""
        return self.pat_v3 if self.patched is not None else self.raw_v3

    def _sign_batch(self, batch: Sequence[tuple[Any, ...]]) -> None:
        """Hand the batch's records, as repodata.json publishes them, to the signer; those
        under `v3` are signed in their `v3` form at the end (`end`)."""
        assert self.signer is not None
        if self.patched is None:  # the columns as they are: no step per record
            names, records = list(map(_FILENAME, batch)), list(map(_RECORD, batch))
        else:
            kept = [row for row in batch if not row[4]]
            names = list(map(_FILENAME, kept))
            records = [row[2] if row[3] is None else row[3] for row in kept]
        in_v3 = self._signed_v3.records
        if in_v3 and not in_v3.keys().isdisjoint(names):
            keep = [index for index, name in enumerate(names) if name not in in_v3]
            names, records = [names[i] for i in keep], [records[i] for i in keep]
        self.signer.add_records(names, records)

    def _take_v3(
        self,
        batch: Sequence[tuple[Any, ...]],
        raw: list[bytes],
        raw_chunk: bytes,
        pat: list[bytes],
        patch_marked: bool,
    ) -> tuple[list[bytes], list[bytes]]:
        """The batch's raw and patched entries without the records that go under `v3`."""
        in_v3 = {
            index
            for index in _marked_entries(raw, raw_chunk)
            if self.raw_v3.add_if_needed(batch[index][0], batch[index][2])
        }
        kept = [entry for index, entry in enumerate(raw) if index not in in_v3] if in_v3 else raw
        if self.patched is None or not (in_v3 or patch_marked):
            return kept, pat
        pat = []
        for index, (filename, _name, _record, patch, removed, *_rest) in enumerate(batch):
            if removed:
                continue
            if patch is None:
                if index in in_v3:
                    self.pat_v3.add_same_as(self.raw_v3, filename)
                else:
                    pat.append(raw[index])
            elif not (may_need_v3(patch) and self.pat_v3.add_if_needed(filename, patch)):
                pat.append(encode_json_key(filename) + b":" + patch)
        return kept, pat

    def end_section(self) -> None:
        self._both(b"}")
        self.rex.write(b"}")

    def end(self, removed_from_packages: list[str], repodata_version: int) -> None:
        """`removed` and `repodata_version`, then `v3` (keys sorted): by then the patch-removed
        names and the `v3` records are known."""
        tail_version = b',"repodata_version":' + str(repodata_version).encode()
        signatures = self._signatures()
        self.raw.write(b',"removed":' + encode_json(removed_from_packages) + tail_version)
        if self.patched is None:
            _write_all(self.raw, signatures)
        self.raw.write(_v3_tail(self.raw_v3))
        if self.patched is not None:
            all_removed = sorted(set(removed_from_packages).union(self.patch_removed))
            self.patched.write(b',"removed":' + encode_json(all_removed) + tail_version)
            _write_all(self.patched, signatures)
            self.patched.write(_v3_tail(self.pat_v3))
        self.rex.write(b"}")

    def _signatures(self) -> list[bytes]:
        """`,"signatures":{...}` in pieces for the signed document (its `v3` records signed
        now), or nothing without a signer."""
        if self.signer is None:
            return []
        in_v3 = self._signed_v3.records
        if in_v3:
            self.signer.add_records(list(in_v3), [encoded for encoded, _ in in_v3.values()])
        return [b',"signatures":', *self.signer.signatures_member()]


def _write_all(sink: Sink, pieces: list[bytes]) -> None:
    for piece in pieces:
        sink.write(piece)


def _marked_entries(entries: list[bytes], chunk: bytes) -> set[int]:
    """Indexes of the entries (joined by commas into `chunk`) that `may_need_v3`."""
    ends = list(accumulate(len(entry) + 1 for entry in entries))
    marked: set[int] = set()
    for needle in V3_NEEDLES:
        position = chunk.find(needle)
        while position >= 0:
            index = bisect_right(ends, position)
            marked.add(index)
            position = chunk.find(needle, ends[index])
    return marked


def _write_chunk(sink: Sink, chunk: bytes, map_open: bool) -> bool:
    """Write comma-joined `"key":value` entries into an open map; whether it has entries now."""
    if not chunk:
        return map_open
    if map_open:
        sink.write(b",")
    sink.write(chunk)
    return True


def _v3_tail(v3: V3Section) -> bytes:
    member = v3.encoded()
    return (b"," + member if member else b"") + b"}"


def compress_zstd(source: Path, target: Sink, level: int) -> None:
    """zstd-compress a file in one frame with its content size in the header."""
    compressor = zstd_compressor(level)
    size = source.stat().st_size
    frame = compressor.compressobj(size=size)
    with open(source, "rb") as handle:
        while chunk := handle.read(1 << 20):
            target.write(frame.compress(chunk))
    target.write(frame.flush())


def compress_bz2(source: Path, target: Sink) -> None:
    compressor = bz2.BZ2Compressor(9)
    with open(source, "rb") as handle:
        while chunk := handle.read(1 << 20):
            target.write(compressor.compress(chunk))
    target.write(compressor.flush())
