"""Sign every record of a published subdir as CCT expects, incrementally.

Each record's signature is the pkg_mgr key's ed25519 signature over CCT's canonical bytes of the
record (as conda decodes it); `repodata.json` gets a top-level `signatures` map:
`{filename: {public_key_hex: {"signature": hex}}}`. Signatures already made (same record bytes,
same key) come from the cache; only new and patched records are signed.

Entry points: `sign_published_subdir` (after a publish, rewrites the subdir's repodata files) and
`sign_channel` (every published subdir of a channel). `SubdirSigner` is the piece a publisher can
drive inline: `add(filename, record_bytes)` per record, then `signatures_bytes()`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain, repeat
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
from stockyard.trust.repodata_io import read_document, write_with_variants
from stockyard.trust.rotation import activate_pending
from stockyard.types.encoding import DEFAULT_ZSTD_LEVEL, encode_json_key

REPODATA = "repodata.json"
CURRENT_REPODATA = "current_repodata.json"

#: A record's bytes as published: from our publisher, or a slice of a published file.
_Record = bytes | memoryview | msgspec.Raw
#: The end of one `signatures` entry and the start of the next key.
_ENTRY_END = '"}},"'


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
    """Signatures of one subdir's records by one key, through the subdir's cache."""

    def __init__(self, key: SigningKey, cache: SignatureCache) -> None:
        self.key = key
        self.cache = cache
        #: Filenames and raw signatures, in the order added; encoded once, in `signatures_bytes`.
        self._names: list[str] = []
        self._signatures: list[bytes] = []
        # Every entry is `"<filename>":{"<key>":{"signature":"<hex>"}}`: the constant parts once.
        self._middle = '":{"' + key.public_hex + '":{"signature":"'

    @classmethod
    def for_channel(cls, channel_dir: Path, subdir: str, key: SigningKey) -> SubdirSigner:
        path = cache_path(TrustLayout(channel_dir).cache_dir, subdir, key.public_hex)
        return cls(key, SignatureCache(path))

    @property
    def entries(self) -> dict[str, bytes]:
        """filename -> raw signature of every record added."""
        return dict(zip(self._names, self._signatures, strict=True))

    @property
    def records(self) -> int:
        return len(self._names)

    def add(self, filename: str, record: bytes | memoryview) -> None:
        self.add_all([(filename, record)])

    def add_all(self, records: Iterable[tuple[str, _Record]]) -> None:
        """Sign (or find in the cache) every record. The hot path of every signed publish:
        hashing and lookups run as comprehensions and C-level maps over the whole batch; only
        records missing from the cache take a Python step each (they are signed)."""
        batch = records if isinstance(records, list) else list(records)
        sha256 = hashlib.sha256
        digests = [sha256(record).digest() for _name, record in batch]
        signatures: list[bytes | None] = list(map(self.cache.known.get, digests))
        if None in signatures:
            self._sign_missing(batch, digests, signatures)
        self._names += [name for name, _record in batch]
        self._signatures += cast(list[bytes], signatures)
        self.cache.used += digests

    def _sign_missing(
        self, batch: list[tuple[str, _Record]], digests: list[bytes], found: list[bytes | None]
    ) -> None:
        index = found.index(None)
        while True:
            signature = self.key.private.sign(canonical_record_bytes(bytes(batch[index][1])))
            self.cache.put(digests[index], signature)
            found[index] = signature
            try:
                index = found.index(None, index + 1)
            except ValueError:
                return

    def signatures_bytes(self) -> bytes:
        """The encoded `signatures` member: what `encode_json` gives for
        `{filename: {public_hex: {"signature": hex}}}` (keys sorted), built without the dicts:
        plain filenames (no quote, backslash or control character: JSON writes them as they
        are) are joined as text in one go, others encoded one by one."""
        pairs = sorted(zip(self._names, self._signatures, strict=True))  # names are unique
        if not pairs:
            return b"{}"
        names = [name for name, _signature in pairs]
        hexes = [signature.hex() for _name, signature in pairs]
        if _plain_keys("".join(names)):
            entries = zip(names, repeat(self._middle), hexes, repeat(_ENTRY_END), strict=False)
            pieces = list(chain.from_iterable(entries))
            # One copy of the whole text, not three: the ends are fixed in the list.
            pieces[0], pieces[-1] = '{"' + pieces[0], '"}}}'
            return "".join(pieces).encode()
        middle = self._middle[1:].encode()  # after the key's closing quote
        parts = [
            encode_json_key(name) + middle + hexed.encode() + b'"}}'
            for name, hexed in zip(names, hexes, strict=True)
        ]
        return b"{" + b",".join(parts) + b"}"

    def finish(self, subdir: str) -> None:
        """Save the cache (and forget caches of keys that no longer sign)."""
        if self.cache.save():
            self.cache.drop_other_keys(subdir)


def _plain_keys(joined: str) -> bool:
    """Whether JSON writes these strings as they are: no quote, backslash or control
    character (msgspec escapes only those; `isprintable` is False for every control character,
    and for a few more, which then only take the slower exact path)."""
    return joined.isprintable() and '"' not in joined and "\\" not in joined


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
