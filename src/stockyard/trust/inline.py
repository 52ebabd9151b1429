"""Signing inside the publish: the signer `publish/monolithic.py` drives while it streams
repodata.json, so a signed channel's repodata files are written once, already signed.

The monolithic writer hands over every record of the document it publishes as repodata.json
(`add_records`), then asks for the encoded `signatures` member (`signatures_member`); the
publisher calls `finish` once the subdir's files are in place: it saves the signature cache
(signatures keyed by the sha256 of each record's published bytes, so only new and patched
records are signed) and the subdir's signing mark (`marks`), so that the commit's signing hook
(`sign_channel`) finds the subdir signed and reads nothing. The signer remembers the publish in
this process (`recent`): the next one finds unchanged records by filename and `hash()` instead
of a sha256 each, and re-encodes only the segments of the `signatures` member that changed.

Importing this module imports `cryptography`: the publisher imports it only for a signed
channel (`is_signed_channel`).
"""

from __future__ import annotations

from pathlib import Path

from stockyard.trust.keys import SigningKey
from stockyard.trust.layout import TrustLayout
from stockyard.trust.marks import remember_signed
from stockyard.trust.sign import SubdirSigner, cached_channel_signer


class InlineSigner:
    """Signatures of one subdir's repodata.json records, made while it is written."""

    def __init__(self, channel_dir: Path, subdir: str, key: SigningKey) -> None:
        self.channel_dir = channel_dir
        self.subdir = subdir
        self.key = key
        self._signer = SubdirSigner.for_channel(channel_dir, subdir, key, remember_publish=True)

    def add_records(self, names: list[str], records: list[bytes], /) -> None:
        self._signer.add_columns(names, records)

    def signatures_member(self) -> list[bytes]:
        return self._signer.signatures_chunks()

    def signatures_of(self, filenames: set[str]) -> dict[str, dict[str, dict[str, str]]]:
        """The `signatures` map restricted to `filenames` (for current_repodata.json, a subset
        of the same records)."""
        entries, public_hex = self._signer.entries, self.key.public_hex
        return {
            name: {public_hex: {"signature": entries[name].hex()}}
            for name in sorted(filenames)
            if name in entries
        }

    @property
    def records(self) -> int:
        return self._signer.records

    @property
    def signed(self) -> int:
        """Records signed in this publish (the others came from the cache)."""
        return self._signer.cache.misses

    def finish(self) -> None:
        """Save the cache and mark the subdir signed; call once its files are in place."""
        self._signer.finish(self.subdir)
        remember_signed(self.channel_dir, self.subdir, self.key.public_hex, self.records)


def inline_signer(channel_dir: Path, subdir: str) -> InlineSigner | None:
    """The signer of `subdir`'s repodata.json when the channel is signed; None when it is not.
    Raises `KeyUnavailable` when it is but the online key cannot be decrypted: a signed
    channel never publishes unsigned records."""
    if not TrustLayout(channel_dir).is_configured():
        return None
    return InlineSigner(channel_dir, subdir, cached_channel_signer(channel_dir))
