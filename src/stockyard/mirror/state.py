"""What a mirror run keeps for the next one, under the target's `.stockyard/mirror/`:

- `state.json`: per upstream document its ETag and Last-Modified, so the next run asks
  conditionally and a 304 costs no transfer;
- `cache/`: those documents' bodies (a 304 means: parse the cached copy), and shards by their
  content hash (CEP 16: a shard whose hash is unchanged is never fetched again);
- `downloads/`: artifacts, `<filename>.part` while downloading (resumed with a Range request
  after a crash) and `<filename>` once complete and verified (never downloaded again);
- `patch_instructions.json`: the patch source reproducing upstream's patched records.

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


class _Entry(msgspec.Struct, frozen=True):
    etag: str | None = None
    last_modified: str | None = None


class _State(msgspec.Struct):
    version: int = STATE_VERSION
    upstream: str = ""
    documents: dict[str, _Entry] = {}


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
    #: Documents fetched this run: relative path -> (from cache?, bytes).
    fetched: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path, upstream_url: str) -> MirrorState:
        fingerprint = hashlib.sha256(upstream_url.encode()).hexdigest()
        state = _State(upstream=fingerprint)
        path = directory / "state.json"
        if path.is_file():
            try:
                stored = msgspec.json.decode(path.read_bytes(), type=_State)
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
        cached = self.cache / relative
        entry = self._state.documents.get(relative) if cached.is_file() else None
        validators = Validators(entry.etag, entry.last_modified) if entry else None
        found = fetcher.document(self.url(relative), validators)
        if found.status == "not_modified":
            self.fetched[relative] = True
            return cached.read_bytes()
        if found.status == "missing":
            self._state.documents.pop(relative, None)
            return None
        write_atomic(cached, found.body)
        given = found.validators
        if given.etag or given.last_modified:
            self._state.documents[relative] = _Entry(given.etag, given.last_modified)
        else:
            self._state.documents.pop(relative, None)
        self.fetched[relative] = False
        return found.body

    def forget(self, relative: str) -> None:
        """Drop a document that turned out unusable, so the next run fetches it whole."""
        self._state.documents.pop(relative, None)
        (self.cache / relative).unlink(missing_ok=True)

    def url(self, relative: str) -> str:
        return f"{self.upstream_url.rstrip('/')}/{relative}"

    def save(self) -> None:
        write_atomic(self.directory / "state.json", msgspec.json.encode(self._state))
