"""The fast path for the hottest channel-file requests, below FastAPI's routing and middleware.

Clients revalidate `repodata.json` and shards (304) and download small artifacts far more
often than anything else. Through FastAPI each of those requests pays for the middleware stack,
matching every `/api` route before the channel routes, a `Request` object and a `Response`
object: on two cores that capped the app at a few percent of nginx. `StockyardApp` (app.py)
asks `FastChannelFiles` first, before any of FastAPI's and Starlette's layers; it answers a
request itself when all of this holds, and leaves it unchanged to the app otherwise:

- `GET` or `HEAD` of `/{channel}/{path}` (never `/t/...`, `/api`, `/ui` or another reserved
  name; no `as-of/` view; no ASGI `root_path`);
- the channel is in the server's channel cache and is public, not a proxy, and no
  `accel_redirect` hands downloads to nginx;
- the file is local, or (bucket storage) this replica holds a copy it trusts without asking the
  bucket (`RemoteFiles.open_fresh`), the client's validators do not name a newer version, and
  artifacts are not answered with presigned redirects;
- the answer is a 304, or the whole file (or its published `.gz`) of at most `INLINE_READ`
  bytes with no `Range` header and no on-the-fly gzip.

The answer is decided by the same `channel_files.plan_answer` as the route's, so both send the
same status, headers and bytes (tests/server/test_fast_files.py compares them request by
request); the access log and metrics record it under the route template the app would have
named.
"""

from __future__ import annotations

import os
import time
from typing import Final

from starlette.types import Scope, Send

from stockyard.publish.gz import GZ_SUFFIX, has_published_gz
from stockyard.server.channel_files import client_is_ahead, file_key, plan_answer, redirects
from stockyard.server.channels import RESERVED_CHANNEL_NAMES
from stockyard.server.http_files import (
    INLINE_READ,
    OpenFile,
    media_type,
    open_regular_file,
    wants_gzip,
)
from stockyard.server.observability import AccessRecorder
from stockyard.server.state import ServerState
from stockyard.types.errors import StockyardError

#: The route template the app's own channel-file route has (access log and metrics label).
ROUTE: Final = "/{channel}/{path:path}"
_METHODS: Final = frozenset({"GET", "HEAD"})

#: (status, raw headers, body) of an answer the fast path sends itself.
_Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class FastChannelFiles:
    """Answers cheap channel-file requests itself (see the module text); `StockyardApp` asks it
    first, before any of the framework's layers."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.recorder = AccessRecorder(state.metrics)
        #: Where local channels live (`DataLayout.channel_dir` as a string: paths here are
        #: joined as strings, `pathlib` costs more than the rest of a 304).
        self.channels_dir = str(state.layout.channels_dir)

    async def answered(self, scope: Scope, send: Send) -> bool:
        """Whether the request was answered here; False leaves it, untouched, to the app."""
        if not self.state.fast_files:
            return False
        started = time.perf_counter()
        answer = self._answer(scope)
        if answer is None:
            return False
        status, headers, body = answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        self.recorder.record(scope, ROUTE, status, len(body), time.perf_counter() - started)
        return True

    def _answer(self, scope: Scope) -> _Answer | None:
        """The answer, or None to leave the request to the app. Never raises for a request:
        anything unexpected is the app's to answer (and report)."""
        if scope["method"] not in _METHODS or scope.get("root_path"):
            return None
        state = self.state
        if state.settings.accel_redirect is not None:
            return None
        channel_name, sep, path = scope["path"][1:].partition("/")
        if not sep or not path or channel_name in RESERVED_CHANNEL_NAMES:
            return None
        if path.startswith("as-of/") or path.endswith("/"):
            return None
        view = state.channels.get(channel_name)
        if view is None or view.channel.private or view.proxy is not None:
            return None
        try:
            key = file_key(path)
        except StockyardError:
            return None
        headers = _first_values(scope["headers"])
        try:
            files = self._open(channel_name, key, headers)
            if files is None:
                return None  # a 404, a directory's redirect, a bucket to ask: the app's
            return self._decide(scope["method"], headers, channel_name, key, *files, view.max_age)
        except Exception:
            return None  # the app answers (and logs) what the fast path could not

    def _open(
        self, channel_name: str, key: str, headers: dict[str, str]
    ) -> tuple[OpenFile, OpenFile | None] | None:
        """(the file, its published `.gz` when this request gets that) as the route would open
        them without leaving the event loop; None when the route would have to do more."""
        remote = self.state.remote_files
        gzipped = has_published_gz(key)
        if remote is None:
            # `key` passed `file_key` (no traversal); `channel_name` is a cached channel's.
            opened = open_regular_file(f"{self.channels_dir}/{channel_name}/{key}")
            if opened is None:
                return None
            gz = None  # found as `channel_files._published_gz` finds it
            if gzipped and wants_gzip(key, opened.size, headers):
                gz = open_regular_file(f"{opened.path}{GZ_SUFFIX}")
            return opened, gz
        # A bucket: only copies this replica trusts without asking it (`RemoteFiles`).
        if redirects(self.state, key):
            return None
        opened = remote.open_fresh(channel_name, key)
        if opened is None:
            return None
        gz = None
        if gzipped and wants_gzip(key, opened.size, headers):
            gz = remote.open_fresh(channel_name, key + GZ_SUFFIX)
            if gz is None:
                opened.close()
                return None
        if client_is_ahead(headers, key, opened, gz):
            for held in (opened, gz):
                if held is not None:
                    held.close()
            return None
        return opened, gz

    def _decide(
        self,
        method: str,
        request_headers: dict[str, str],
        channel_name: str,
        key: str,
        opened: OpenFile,
        gz: OpenFile | None,
        max_age: int,
    ) -> _Answer | None:
        answer = plan_answer(
            self.state, channel_name, key, opened, False, max_age, gz, request_headers
        )
        body_file = answer.body
        try:
            headers = answer.headers
            if answer.not_modified:
                return 304, _raw(headers), b""
            if answer.compressible or body_file.size > INLINE_READ or "range" in request_headers:
                return None
            headers["content-type"] = media_type(key)
            if answer.gzipped:
                headers["content-encoding"] = "gzip"
            raw = _raw(headers)
            raw.append((b"content-length", str(body_file.size).encode()))
            if method == "HEAD" or body_file.size == 0:
                return 200, raw, b""
            body = os.pread(body_file.fd, body_file.size, 0)
            if len(body) != body_file.size:
                return None  # changed under us (never, for published files): the app's
            return 200, raw, body
        finally:
            body_file.close()


def _first_values(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers by (lower-case) name, the first of repeated ones: what Starlette's
    `Headers.get` answers, for the few lookups a request needs."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1")
        if key not in out:
            out[key] = value.decode("latin-1")
    return out


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
