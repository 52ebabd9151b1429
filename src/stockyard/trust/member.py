"""The `signatures` member of a signed repodata.json, encoded in segments.

`encode_json` of `{filename: {public_hex: {"signature": hex}}}` (keys sorted) is the entries
`"<filename>":{"<key>":{"signature":"<hex>"}}` in filename order, joined by commas, in braces.
`SignaturesMember` keeps them as runs of consecutive entries (segments of about
`SEGMENT_ENTRIES`), each encoded once: a publish that changed a few records re-encodes the
segments those records fall in and joins the others as they are. For a 400,000-record subdir the
member is about 100 MB in some 400 segments; encoding all of it costs about half a second, one
segment well under a millisecond.

The bytes are always those of the whole member encoded at once (tests/trust/test_member.py
checks random edits against `encode_json`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from itertools import chain, repeat

from stockyard.types.encoding import encode_json_key

#: Entries per segment when a member is built whole; a segment that grows past twice this is
#: split, an emptied one dropped.
SEGMENT_ENTRIES = 1024
#: The end of one entry and the start of the next key (plain filenames).
_ENTRY_END = '"}},"'


class EntryEncoder:
    """Encodes runs of `signatures` entries by one key (no braces around them)."""

    def __init__(self, public_hex: str) -> None:
        # Every entry is `"<filename>":{"<key>":{"signature":"<hex>"}}`: the constant parts once.
        self._middle = '":{"' + public_hex + '":{"signature":"'
        self._middle_bytes = self._middle[1:].encode()  # after the key's closing quote

    def encode(self, names: Sequence[str], signatures: Sequence[bytes]) -> bytes:
        """The entries of `names` (sorted, unique) with their raw `signatures`, comma-joined.
        Plain filenames (no quote, backslash or control character: JSON writes them as they
        are) are joined as text in one go, others encoded one by one."""
        if not names:
            return b""
        hexes = [signature.hex() for signature in signatures]
        if _plain_keys("".join(names)):
            entries = zip(names, repeat(self._middle), hexes, repeat(_ENTRY_END), strict=False)
            pieces = list(chain.from_iterable(entries))
            # One copy of the whole text, not three: the ends are fixed in the list.
            pieces[0], pieces[-1] = '"' + pieces[0], '"}}'
            return "".join(pieces).encode()
        middle = self._middle_bytes
        return b",".join(
            encode_json_key(name) + middle + hexed.encode() + b'"}}'
            for name, hexed in zip(names, hexes, strict=True)
        )


def _plain_keys(joined: str) -> bool:
    """Whether JSON writes these strings as they are: no quote, backslash or control
    character (msgspec escapes only those; `isprintable` is False for every control character,
    and for a few more, which then only take the slower exact path)."""
    return joined.isprintable() and '"' not in joined and "\\" not in joined


@dataclass(frozen=True, slots=True)
class Segment:
    """Consecutive entries: their filenames (sorted), raw signatures and encoded,
    comma-joined text."""

    names: tuple[str, ...]
    signatures: tuple[bytes, ...]
    encoded: bytes


@dataclass(frozen=True, slots=True)
class SignaturesMember:
    """The whole member as segments in filename order; immutable (an update makes a new one
    that shares the unchanged segments)."""

    segments: tuple[Segment, ...]
    #: The first filename of each segment (for `bisect`).
    starts: tuple[str, ...]

    @classmethod
    def build(
        cls, encoder: EntryEncoder, names: Sequence[str], signatures: Sequence[bytes]
    ) -> SignaturesMember:
        """From every entry, in any order (filenames unique)."""
        pairs = sorted(zip(names, signatures, strict=True))
        ordered = [name for name, _signature in pairs]
        raw = [signature for _name, signature in pairs]
        return cls._of_runs(encoder, ordered, raw)

    @classmethod
    def _of_runs(
        cls, encoder: EntryEncoder, names: Sequence[str], signatures: Sequence[bytes]
    ) -> SignaturesMember:
        segments = tuple(
            _segment(
                encoder,
                names[start : start + SEGMENT_ENTRIES],
                signatures[start : start + SEGMENT_ENTRIES],
            )
            for start in range(0, len(names), SEGMENT_ENTRIES)
        )
        return cls(segments, tuple(segment.names[0] for segment in segments))

    @property
    def entries(self) -> int:
        return sum(len(segment.names) for segment in self.segments)

    def encoded(self) -> bytes:
        """The member's bytes: `encode_json` of the map."""
        return b"".join(self.chunks())

    def chunks(self) -> list[bytes]:
        """The member's bytes in pieces, to write one after the other (no copy of the whole)."""
        pieces = [b"{"]
        for segment in self.segments:
            pieces += (segment.encoded, b",")
        if self.segments:
            pieces[-1] = b"}"  # instead of the last comma
        else:
            pieces.append(b"}")
        return pieces

    def updated(
        self,
        encoder: EntryEncoder,
        changed: Mapping[str, bytes],
        removed: Set[str],
    ) -> SignaturesMember:
        """This member with `changed` (filename -> signature: new entries, or new signatures of
        existing ones) and without `removed`."""
        if not self.segments:
            return self._of_runs(
                encoder, sorted(changed), [changed[name] for name in sorted(changed)]
            )
        touched: dict[int, list[str]] = {}
        for name in chain(changed, removed):
            index = max(bisect_right(self.starts, name) - 1, 0)
            touched.setdefault(index, []).append(name)
        segments: list[Segment] = []
        previous = 0
        for index in sorted(touched):
            segments += self.segments[previous:index]
            here = touched[index]
            segments += self._redone(encoder, self.segments[index], here, changed, removed)
            previous = index + 1
        segments += self.segments[previous:]
        return SignaturesMember(tuple(segments), tuple(segment.names[0] for segment in segments))

    @staticmethod
    def _redone(
        encoder: EntryEncoder,
        segment: Segment,
        here: list[str],
        changed: Mapping[str, bytes],
        removed: Set[str],
    ) -> list[Segment]:
        """`segment` encoded again with the changes that fall in it (`here`): split when it grew
        too long, none when emptied."""
        signatures = dict(zip(segment.names, segment.signatures, strict=True))
        signatures.update((name, changed[name]) for name in here if name in changed)
        for name in here:
            if name in removed:
                signatures.pop(name, None)
        names = sorted(signatures)
        width = SEGMENT_ENTRIES if len(names) > 2 * SEGMENT_ENTRIES else len(names) or 1
        return [
            _segment(
                encoder,
                names[start : start + width],
                [signatures[name] for name in names[start : start + width]],
            )
            for start in range(0, len(names), width)
        ]


def _segment(encoder: EntryEncoder, names: Sequence[str], signatures: Sequence[bytes]) -> Segment:
    return Segment(tuple(names), tuple(signatures), encoder.encode(names, signatures))
