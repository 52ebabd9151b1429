"""Sign every record of a published subdir as CCT expects, incrementally.

Each record's signature is the pkg_mgr key's ed25519 signature over CCT's canonical bytes of the
record (as conda decodes it); `repodata.json` gets a top-level `signatures` map:
`{filename: {public_key_hex: {"signature": hex}}}`. Signatures already made (same record bytes,
same key) come from the cache; only new and patched records are signed.

Entry points: `sign_published_subdir` (after a publish, rewrites the subdir's repodata files) and
`sign_channel` (every published subdir of a channel). `SubdirSigner` is the piece a publisher
drives inline (`trust.inline`): `add_columns(filenames, records)` per batch, then
`signatures_chunks()`, then `finish`.
"""

from __future__ import annotations

import hashlib
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import cast

import msgspec

from stockyard.trust.cache import SignatureCache, cache_path
from stockyard.trust.canonical import canonical_record_bytes
from stockyard.trust.errors import TrustError
from stockyard.trust.keys import SigningKey
from stockyard.trust.keystore import load_private_key, online_passphrase
from stockyard.trust.layout import TrustLayout
from stockyard.trust.marks import remember_signed, unchanged_since_signed
from stockyard.trust.member import EntryEncoder, SignaturesMember
from stockyard.trust.recent import Entry, RecentSigned, Replay, recall, remember
from stockyard.trust.repodata_io import read_document, write_with_variants
from stockyard.trust.rotation import activate_pending
from stockyard.types.encoding import DEFAULT_ZSTD_LEVEL

REPODATA = "repodata.json"
CURRENT_REPODATA = "current_repodata.json"

#: A record's bytes as published: from our publisher, or a slice of a published file.
_Record = bytes | memoryview | msgspec.Raw


@dataclass(slots=True)
class SignResult:
    """What signing one subdir did."""

    subdir: str
    records: int = 0
    #: Records signed now (new or changed); the others came from the cache.
    signed: int = 0
    reused: int = 0
    written: list[str] = field(default_factory=list)
    seconds: float = 0.0


def load_channel_signer(channel_dir: Path, passphrase: bytes | None = None) -> SigningKey:
    """The channel's online pkg_mgr key, decrypted (passphrase from the environment if None)."""
    layout = TrustLayout(channel_dir)
    config = layout.load_config()
    key = load_private_key(layout.state_dir / config.key_file, passphrase or online_passphrase())
    if key.public_hex != config.signing_key:
        raise TrustError(
            f"{layout.state_dir / config.key_file} holds key {key.public_hex[:16]}, but "
            f"trust.json names {config.signing_key[:16]}",
            hint="Restore the key file, or rotate with 'stockyard trust rotate-pkg-mgr'.",
        )
    return key


#: channel dir -> ((trust.json mtime_ns, key file mtime_ns), decrypted key): decrypting the online
#: key costs a key derivation, too much to pay on every upload's commit.
_SIGNERS: dict[Path, tuple[tuple[int, int], SigningKey]] = {}


def cached_channel_signer(channel_dir: Path) -> SigningKey:
    """`load_channel_signer`, decrypted once per process until the key or trust.json change
    (a rotation)."""
    layout = TrustLayout(channel_dir)
    config = layout.load_config()
    stamp = (
        layout.config_path.stat().st_mtime_ns,
        (layout.state_dir / config.key_file).stat().st_mtime_ns,
    )
    cached = _SIGNERS.get(channel_dir)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    key = load_channel_signer(channel_dir)
    _SIGNERS[channel_dir] = (stamp, key)
    return key


class SubdirSigner:
    """Signatures of one subdir's records by one key, through the subdir's cache.

    `remember_publish` (the inline signer of a publish, whose records are `bytes`): the publish
    is compared with this process's last publish of the subdir as it goes (trust/recent.py),
    so unchanged records take no sha256 and the `signatures` member is the last one with the
    changed segments re-encoded; `finish` keeps this publish for the next one.
    """

    def __init__(
        self, key: SigningKey, cache: SignatureCache, *, remember_publish: bool = False
    ) -> None:
        self.key = key
        self.cache = cache
        self._encoder = EntryEncoder(key.public_hex)
        #: Filenames and their (digest, signature), in the order added.
        self._names: list[str] = []
        self._entries: list[Entry] = []
        #: `hash()` of each filename and record (a remembering signer: for the next publish).
        self._name_hashes: array[int] = array("q")
        self._record_hashes: array[int] = array("q")
        self._remembers = remember_publish
        last = recall(cache.path, key.public_hex) if remember_publish else None
        self._replay = Replay(last) if last is not None else None
        self._member: SignaturesMember | None = None

    @classmethod
    def for_channel(
        cls, channel_dir: Path, subdir: str, key: SigningKey, *, remember_publish: bool = False
    ) -> SubdirSigner:
        path = cache_path(TrustLayout(channel_dir).cache_dir, subdir, key.public_hex)
        return cls(key, SignatureCache(path), remember_publish=remember_publish)

    @property
    def entries(self) -> dict[str, bytes]:
        """filename -> raw signature of every record added."""
        return {name: entry[1] for name, entry in zip(self._names, self._entries, strict=True)}

    @property
    def records(self) -> int:
        return len(self._names)

    def add(self, filename: str, record: bytes | memoryview) -> None:
        self.add_all([(filename, record)])

    def add_all(self, records: Iterable[tuple[str, _Record]]) -> None:
        """Sign (or find) every (filename, record bytes)."""
        batch = records if isinstance(records, list) else list(records)
        self.add_columns(list(map(_first, batch)), list(map(_second, batch)))

    def add_columns(self, names: list[str], records: Sequence[_Record]) -> None:
        """Sign (or find) every record, given as filenames and record bytes (same length). The
        hot path of every signed publish: hashing and comparing run as C-level maps and slices
        over the whole batch; only records that are not found take a Python step each (looked
        up in the cache, or signed)."""
        if self._remembers:  # records are bytes here: hash() reads them
            name_hashes = array("q", map(hash, names))
            record_hashes = array("q", map(hash, records))
            self._name_hashes += name_hashes
            self._record_hashes += record_hashes
        if self._replay is not None:
            found = self._replay.entries(
                names, name_hashes, record_hashes, partial(self._resolve, records)
            )
        else:
            found = self._looked_up(records)
        self._names += names
        self._entries += found
        self.cache.used += map(_first, found)

    def _looked_up(self, records: Sequence[_Record]) -> list[Entry]:
        """Entries through the cache: one sha256 per record."""
        sha256 = hashlib.sha256
        digests = [sha256(record).digest() for record in records]
        signatures: list[bytes | None] = list(map(self.cache.known.get, digests))
        if None in signatures:
            self._sign_missing(records, digests, signatures)
        return list(zip(digests, cast(list[bytes], signatures), strict=True))

    def _sign_missing(
        self, records: Sequence[_Record], digests: list[bytes], found: list[bytes | None]
    ) -> None:
        index = found.index(None)
        while True:
            signature = self.key.private.sign(canonical_record_bytes(bytes(records[index])))
            self.cache.put(digests[index], signature)
            found[index] = signature
            try:
                index = found.index(None, index + 1)
            except ValueError:
                return

    def _resolve(self, records: Sequence[_Record], index: int) -> Entry:
        """The entry of one record through the cache (signed if missing)."""
        record = bytes(records[index])
        digest = hashlib.sha256(record).digest()
        signature = self.cache.known.get(digest)
        if signature is None:
            signature = self.key.private.sign(canonical_record_bytes(record))
            self.cache.put(digest, signature)
        return digest, signature

    def signatures_bytes(self) -> bytes:
        """The encoded `signatures` member: what `encode_json` gives for
        `{filename: {public_hex: {"signature": hex}}}` (keys sorted)."""
        return b"".join(self.signatures_chunks())

    def signatures_chunks(self) -> list[bytes]:
        """`signatures_bytes` in pieces to write one after the other, built without the dicts
        (trust/member.py); from the last publish's member when few records changed."""
        self._member = self._updated_member() or SignaturesMember.build(
            self._encoder, self._names, [entry[1] for entry in self._entries]
        )
        return self._member.chunks()

    def _updated_member(self) -> SignaturesMember | None:
        """The last publish's member with this publish's changes; None without one, or when
        so much changed that building it whole is as quick."""
        replay = self._replay
        if replay is None:
            return None
        removed = replay.removed()
        if len(replay.changed) + len(removed) > len(self._names) // 16 + 64:
            return None
        changed = {name: entry[1] for name, entry in replay.changed.items()}
        return replay.last.member.updated(self._encoder, changed, removed)

    def finish(self, subdir: str) -> None:
        """Save the cache (and forget caches of keys that no longer sign); a remembering
        signer keeps this publish for the next one (call once the files are in place)."""
        if self._replay is not None and self._replay.last.known is not self.cache.known:
            self._restore_cache()
        if self.cache.save():
            self.cache.drop_other_keys(subdir)
        if self._remembers and self._member is not None:
            recent = RecentSigned(
                self._names,
                self._name_hashes,
                self._record_hashes,
                self._entries,
                self._member,
                self.cache.known,
            )
            remember(self.cache.path, self.key.public_hex, recent)

    def _restore_cache(self) -> None:
        """The cache was read again from disk (another process wrote it): put back the
        signatures this publish took from the last one that it lacks."""
        known = self.cache.known
        missing = {digest: sig for digest, sig in self._entries if digest not in known}
        known.update(missing)
        self.cache.new.update(missing)


_first = itemgetter(0)
_second = itemgetter(1)


def sign_published_subdir(
    channel_dir: Path,
    subdir: str,
    signer: SigningKey,
    *,
    zst_level: int = DEFAULT_ZSTD_LEVEL,
) -> SignResult:
    """Add (or refresh) the `signatures` map of `<subdir>/repodata.json` and of
    `current_repodata.json` when published; rewrite each with its `.zst` (and `.bz2` when
    published) atomically, compressed variants first. Call with the channel lock held, after
    the subdir was published. Files whose signed bytes did not change are not written."""
    started = time.perf_counter()
    result = SignResult(subdir)
    known = unchanged_since_signed(channel_dir, subdir, signer.public_hex)
    if known is not None:  # nothing was published since the last run
        result.records = result.reused = known
        result.seconds = time.perf_counter() - started
        return result
    signer_of_subdir = SubdirSigner.for_channel(channel_dir, subdir, signer)
    directory = channel_dir / subdir
    result.written += _sign_file(directory / REPODATA, signer_of_subdir, zst_level, required=True)
    # current_repodata.json holds a subset of the same records: the cache makes them free.
    current = SubdirSigner(signer, signer_of_subdir.cache)
    result.written += _sign_file(directory / CURRENT_REPODATA, current, zst_level, required=False)
    signer_of_subdir.finish(subdir)
    remember_signed(channel_dir, subdir, signer.public_hex, signer_of_subdir.records)
    result.records = signer_of_subdir.records
    result.signed = signer_of_subdir.cache.misses
    result.reused = result.records - result.signed
    result.seconds = time.perf_counter() - started
    return result


def _sign_file(path: Path, signer: SubdirSigner, zst_level: int, *, required: bool) -> list[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not required:
            return []
        raise TrustError(
            f"{path} does not exist", hint="Publish the channel first ('stockyard index')."
        ) from None
    document = read_document(data, path)
    signer.add_all(document.records())
    signed = document.with_signatures(signer.signatures_bytes())
    if signed == data:
        return []
    channel_dir = path.parent.parent
    return [str(p.relative_to(channel_dir)) for p in write_with_variants(path, signed, zst_level)]


def published_subdirs(channel_dir: Path) -> list[str]:
    """Subdirs with a published repodata.json."""
    return sorted(
        entry.name
        for entry in channel_dir.iterdir()
        if entry.is_dir() and not entry.name.startswith(".") and (entry / REPODATA).is_file()
    )


def sign_channel(
    channel_dir: Path,
    subdirs: Iterable[str] | None = None,
    *,
    signer: SigningKey | None = None,
    zst_level: int = DEFAULT_ZSTD_LEVEL,
) -> list[SignResult] | None:
    """Sign `subdirs` (default: every published one) of a channel set up for signing; None when
    the channel is not (`stockyard trust init` was never run), so callers need not check.
    Publishes a pending key_mgr.json first when its pkg_mgr overlap window has ended."""
    if not TrustLayout(channel_dir).is_configured():
        return None
    activate_pending(channel_dir)
    key = signer or cached_channel_signer(channel_dir)
    names = published_subdirs(channel_dir) if subdirs is None else sorted(set(subdirs))
    return [sign_published_subdir(channel_dir, name, key, zst_level=zst_level) for name in names]
