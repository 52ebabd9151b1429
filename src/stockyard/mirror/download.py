"""Parallel, resumable, verified artifact downloads.

Each artifact is downloaded to `downloads/<subdir>/<filename>.part` in the mirror's working area
(resumed with a Range request after a crash or `kill -9`; a server that ignores Range sends the
whole file and the download starts over), then checked: size and sha256 against upstream's
record, then everything `stockyard package verify` and uploads check (`verify_artifact`: every
member decompressed within the limits, nothing unsafe, the payload matching paths.json). Only
then is it renamed to `downloads/<subdir>/<filename>`; a finished file is never downloaded again
(it is verified again when the run that publishes it reads it). A sha256 mismatch starts the
download over once (the partial file may belong to an older upload of the same name).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stockyard.mirror.errors import UpstreamError
from stockyard.mirror.fetch import Fetcher, redact
from stockyard.package.read import ArtifactMetadata
from stockyard.package.verify import verify_artifact
from stockyard.types.errors import HashMismatch, StockyardError


@dataclass(frozen=True, slots=True)
class Wanted:
    """An artifact to fetch, with what upstream's record promises about it."""

    subdir: str
    filename: str
    url: str
    sha256: str
    size: int

    @property
    def key(self) -> str:
        return f"{self.subdir}/{self.filename}"


@dataclass(frozen=True, slots=True)
class Verified:
    wanted: Wanted
    path: Path
    metadata: ArtifactMetadata


@dataclass(frozen=True, slots=True)
class Failure:
    key: str
    reason: str


class DownloadProgress(Protocol):
    """What the downloader reports (the CLI draws a progress bar from it). Called from the
    download threads."""

    def start(self, files: int, total_bytes: int) -> None:
        """Called once, before the first byte."""

    def advance(self, count: int) -> None:
        """`count` more bytes arrived (or were found already downloaded; negative when a
        download starts over)."""

    def file_done(self) -> None:
        """One more artifact is downloaded and verified."""


class NoProgress:
    def start(self, files: int, total_bytes: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def file_done(self) -> None:
        pass


class _Mismatch(Exception):
    """The downloaded bytes are not what the record promised."""


@dataclass(slots=True)
class Downloader:
    fetcher: Fetcher
    folder: Path
    jobs: int
    progress: DownloadProgress

    def run(self, wanted: list[Wanted]) -> tuple[list[Verified], list[Failure]]:
        """Download and verify every artifact (in parallel); results in the order given."""
        self.progress.start(len(wanted), sum(w.size for w in wanted))
        with ThreadPoolExecutor(max(1, self.jobs)) as pool:
            outcomes = list(pool.map(self._one, wanted))
        verified = [o for o in outcomes if isinstance(o, Verified)]
        failed = [o for o in outcomes if isinstance(o, Failure)]
        return verified, failed

    def _one(self, wanted: Wanted) -> Verified | Failure:
        try:
            verified = self._fetch_and_verify(wanted)
        except StockyardError as exc:
            return Failure(wanted.key, exc.message)
        except OSError as exc:
            return Failure(wanted.key, f"cannot write the download: {exc.strerror or exc}")
        self.progress.file_done()
        return verified

    def _fetch_and_verify(self, wanted: Wanted) -> Verified:
        done = self.folder / wanted.subdir / wanted.filename
        if done.is_file() and done.stat().st_size == wanted.size:
            try:
                metadata = _verify(done, wanted)
                self.progress.advance(wanted.size)
                return Verified(wanted, done, metadata)
            except _Mismatch:
                done.unlink()  # upstream replaced the file since: fetch the new one
        part = done.with_name(done.name + ".part")
        part.parent.mkdir(parents=True, exist_ok=True)
        for last_try in (False, True):
            self._download(wanted, part)
            try:
                metadata = _verify(part, wanted)
            except _Mismatch as exc:
                part.unlink(missing_ok=True)
                if last_try:
                    raise HashMismatch(f"{redact(wanted.url)}: {exc}") from None
                continue
            os.replace(part, done)
            return Verified(wanted, done, metadata)
        raise AssertionError("unreachable")

    def _download(self, wanted: Wanted, part: Path) -> None:
        counted = 0  # bytes of this file reported to the progress so far

        def count(size: int) -> None:
            nonlocal counted
            counted += size
            self.progress.advance(size)

        def attempt() -> None:
            offset = part.stat().st_size if part.exists() else 0
            offset = 0 if offset > wanted.size else offset
            count(offset - counted)  # what is on disk already (after a crash or a retry)
            if offset == wanted.size:
                return  # complete already (a crash came between download and rename)
            with open(part, "r+b" if offset else "wb") as sink:
                sink.seek(offset)
                sink.truncate()
                if not self.fetcher.download(wanted.url, sink, offset, count):
                    sink.seek(0)
                    sink.truncate()
                    count(-counted)
                    self.fetcher.download(wanted.url, sink, 0, count)
                sink.flush()
                os.fsync(sink.fileno())

        self.fetcher.retrying(attempt, wanted.url)


def _verify(path: Path, wanted: Wanted) -> ArtifactMetadata:
    """Size, sha256, then the full artifact verification uploads get."""
    size = path.stat().st_size
    if size != wanted.size:
        raise _Mismatch(f"size is {size} bytes, upstream's record says {wanted.size}")
    try:
        report = verify_artifact(path, sha256=wanted.sha256, filename=wanted.filename)
    except HashMismatch:
        raise _Mismatch(f"sha256 does not match upstream's record ({wanted.sha256})") from None
    report.raise_for_problems()
    if report.metadata is None:  # unreadable: raise_for_problems raised
        raise UpstreamError(f"{wanted.key}: unreadable artifact")
    return report.metadata
