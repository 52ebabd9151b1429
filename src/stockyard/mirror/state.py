"""What a mirror run keeps for the next one, under the target's `.stockyard/mirror/`:

- `state.json`: per upstream document its ETag and Last-Modified, so the next run asks
  conditionally and a 304 costs no transfer;
- `cache/`: those documents' bodies (a 304 means: parse the cached copy), and shards by their
  content hash (CEP 16: a shard whose hash is unchanged is never fetched again);
- `downloads/`: artifacts, `<filename>.part` while downloading (resumed with a Range request
  after a crash) and `<filename>` once complete and verified (never downloaded again);
- `patch_instructions.json`: the patch source reproducing upstream's patched records;
- `last_run.json`: what the last published run depended on (`stockyard.mirror.last_run`).

The state names the upstream by a hash of its URL (a token in the URL is never stored in
clear); mirroring another upstream into the same target drops the cached documents.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from stockyard.mirror.fetch import Fetcher, Validators

STATE_VERSION = 1
#: One mirror run per target at a time (a file lock in the working area).
MIRROR_LOCK = "mirror.lock"


class _Entry(msgspec.Struct, frozen=True):
    etag: str | None = None
    last_modified: str | None = None


class _State(msgspec.Struct):
    version: int = STATE_VERSION
    upstream: str = ""
    documents: dict[str, _Entry] = {}


#: Built at import (under the import lock): msgspec's first use of a Struct is not thread safe.
_decode_state = msgspec.json.Decoder(_State).decode


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` so that a crash leaves the old or the new bytes, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass(slots=True)
class MirrorState:
    """The mirror's working area of one target."""

    directory: Path
    upstream_url: str
    _state: _State = field(default_factory=_State)
    #: Documents fetched this run: relative path -> whether upstream answered 304.
    fetched: dict[str, bool] = field(default_factory=dict)
    #: Every document asked for this run, in order: relative path -> sha256 of the bytes used,
    #: or None when upstream has none (what `last_run` replays to tell that nothing changed).
    consulted: dict[str, str | None] = field(default_factory=dict)
    #: The same for the last run that published (`last_run.json`), when there is one.
    previous: dict[str, str | None] = field(default_factory=dict)
    #: Whether the validators changed since loading (then `save` has something to write).
    changed: bool = False

    @classmethod
    def load(cls, directory: Path, upstream_url: str) -> MirrorState:
        fingerprint = hashlib.sha256(upstream_url.encode()).hexdigest()
        state = _State(upstream=fingerprint)
        path = directory / "state.json"
        if path.is_file():
            try:
                stored = _decode_state(path.read_bytes())
            except msgspec.DecodeError:
                stored = None  # a damaged state only costs full requests
            if stored is not None and stored.upstream == fingerprint:
                state = stored
        return cls(directory, upstream_url, state)

    @property
    def cache(self) -> Path:
        return self.directory / "cache"

    @property
    def downloads(self) -> Path:
        return self.directory / "downloads"

    @property
    def patch_instructions(self) -> Path:
        return self.directory / "patch_instructions.json"

    def document(self, fetcher: Fetcher, relative: str) -> bytes | None:
        """Upstream's `relative` document (None when upstream has none), asked for
        conditionally when a cached copy exists."""
        body = self._document(fetcher, relative)
        self.consulted[relative] = None if body is None else hashlib.sha256(body).hexdigest()
        return body

    def _document(self, fetcher: Fetcher, relative: str) -> bytes | None:
        cached = self.cache / relative
        entry = self._state.documents.get(relative) if cached.is_file() else None
        validators = Validators(entry.etag, entry.last_modified) if entry else None
        found = fetcher.document(self.url(relative), validators)
        if found.status == "not_modified":
            self.fetched[relative] = True
            return cached.read_bytes()
        if found.status == "missing":
            self.changed |= self._state.documents.pop(relative, None) is not None
            return None
        given = found.validators
        before = self._state.documents.get(relative)
        if given.etag or given.last_modified:
            write_atomic(cached, found.body)
            self._state.documents[relative] = _Entry(given.etag, given.last_modified)
        else:  # nothing to ask conditionally with (a local upstream): no copy to keep
            self._state.documents.pop(relative, None)
            cached.unlink(missing_ok=True)
        self.changed |= self._state.documents.get(relative) != before
        self.fetched[relative] = False
        return found.body

    def unchanged(self, relative: str) -> bool:
        """Whether `relative` is what the last run that published read: the same bytes, or
        (without its record) a 304. A check that fetched new bytes just before (and cached
        them, so this run got a 304) does not make it look unchanged."""
        if relative in self.previous:
            now = self.consulted.get(relative, "not asked")
            return now == self.previous[relative]
        return self.fetched.get(relative, False)

    def forget(self, relative: str) -> None:
        """Drop a document that turned out unusable, so the next run fetches it whole."""
        self.changed |= self._state.documents.pop(relative, None) is not None
        (self.cache / relative).unlink(missing_ok=True)

    def url(self, relative: str) -> str:
        return f"{self.upstream_url.rstrip('/')}/{relative}"

    def save(self) -> None:
        write_atomic(self.directory / "state.json", msgspec.json.encode(self._state))
        self.changed = False
