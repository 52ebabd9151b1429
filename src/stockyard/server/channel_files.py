"""The conda channel protocol: `GET|HEAD /{channel}/{path}` and `/t/{token}/{channel}/{path}`.

Every published file (repodata variants, shard index and shards, channeldata, run_exports,
index.html) and every artifact is served straight from the channel directory. A missing file,
an invalid path and a channel the caller may not see all answer 404, so clients fall back from
`.zst` or shards to `repodata.json` and private channels stay invisible. A client that accepts
gzip gets the published `repodata.json.gz` (and the like) when there is one. Every file says
its CDN surrogate keys (`Surrogate-Key`, stockyard.cdn.keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from stockyard.cdn.keys import surrogate_key_header
from stockyard.publish.gz import GZ_SUFFIX, has_published_gz
from stockyard.server.auth import authenticate, presented_token, readable_channel
from stockyard.server.channels import RESERVED_CHANNEL_NAMES
from stockyard.server.errors import error_response, stockyard_error_response
from stockyard.server.http_files import (
    FileBody,
    OpenFile,
    cache_control,
    etag_for,
    gzip_cache_path,
    gzip_etag,
    gzip_variant,
    http_date,
    if_none_match_hits,
    if_range_matches,
    is_artifact,
    is_immutable,
    media_type,
    not_modified_since,
    open_regular_file,
    parse_range,
    published_gz_etag,
    wants_gzip,
)
from stockyard.server.state import ChannelView, ServerState, get_state
from stockyard.storage import check_key
from stockyard.types.errors import NotFound, StockyardError

INDEX_HTML = "index.html"
#: Lifetime of a presigned download URL (`download_redirect`); the redirect itself is never
#: cached, so a client always gets a fresh one.
PRESIGNED_SECONDS = 3600


def file_key(path: str) -> str:
    """The storage key for a URL path inside a channel; NotFound for anything odd.

    `check_key` refuses traversal, absolute paths and odd characters; names starting with '.'
    (the channel's `.stockyard/` state, temporary files of a publish) are never served.
    """
    if path == "" or path.endswith("/"):
        path += INDEX_HTML
    try:
        check_key(path)
    except StockyardError:
        raise NotFound(f"no file {path[:200]!r} in this channel") from None
    if any(segment.startswith(".") for segment in path.split("/")):
        raise NotFound(f"no file {path[:200]!r} in this channel")
    return path


def _open(
    state: ServerState, channel_name: str, key: str, *, check: bool = False
) -> tuple[OpenFile | None, bool]:
    """(the open file or None, is it a directory?) -- for a bucket, blocking (see
    server/remote_files.py; `check`: ask the bucket even if the copy is trusted), else a few
    microseconds."""
    if state.remote_files is not None:
        store = state.layout.store(channel_name)
        opened = state.remote_files.open(channel_name, store, key, check=check)
        is_dir = (
            opened is None
            and "." not in key.rsplit("/", 1)[-1]
            and (store.stat(f"{key}/{INDEX_HTML}") is not None)
        )
        return opened, is_dir
    path = state.layout.channel_dir(channel_name) / key
    opened = open_regular_file(path)
    return opened, opened is None and path.is_dir()


def client_is_ahead(
    request_headers: Mapping[str, str], key: str, opened: OpenFile, gz: OpenFile | None = None
) -> bool:
    """Whether the client's validators name another version of a mutable file than this
    replica's copy (it may have read a newer one through another replica); `gz`: the copy of
    the published `.gz` this request would get."""
    if is_immutable(key):
        return False
    etag = etag_for(key, opened.size, opened.mtime_ns)
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        known = [etag, gzip_etag(etag)]
        if gz is not None:
            known.append(published_gz_etag(key, gz.size, gz.mtime_ns))
        return not any(if_none_match_hits(if_none_match, tag) for tag in known)
    since = request_headers.get("if-modified-since")
    # Ahead when its date is later than our copy's mtime (whole seconds, as HTTP dates are).
    return since is not None and not_modified_since(since, opened.mtime_ns + 1_000_000_000)


def _published_gz(
    state: ServerState,
    channel_name: str,
    key: str,
    opened: OpenFile,
    request_headers: Mapping[str, str],
    check: bool = False,
) -> OpenFile | None:
    """The published `key.gz` when this request is to get `key` gzip-compressed (blocking for
    a bucket; `check`: ask the bucket even if the copy is trusted); None when there is none
    (the gzip variant is then made on the fly)."""
    if not (has_published_gz(key) and wants_gzip(key, opened.size, request_headers)):
        return None
    return _open(state, channel_name, key + GZ_SUFFIX, check=check)[0]


def redirects(state: ServerState, key: str) -> bool:
    """Whether an artifact download is answered with a presigned bucket URL (setting
    `download_redirect`) instead of its bytes."""
    return (
        state.remote_files is not None and state.settings.download_redirect and (is_artifact(key))
    )


def _purged(state: ServerState) -> bool:
    """Whether a CDN purge is wired (`purge_webhook_url`): public artifacts then live long."""
    return state.settings.purge_webhook_url is not None


def _presigned(
    state: ServerState, channel_name: str, key: str, *, private: bool, max_age: int
) -> str | None:
    """The presigned URL of an existing artifact (blocking), None when there is none. S3
    answers the download with the caching headers the app would have sent."""
    store = state.layout.store(channel_name)
    if store.stat(key) is None:
        return None
    sign = getattr(store, "presigned_url", None)
    if sign is None:
        return None
    url: str = sign(
        key,
        expires=PRESIGNED_SECONDS,
        cache_control=cache_control(key, max_age=max_age, private=private, purged=_purged(state)),
        content_type=media_type(key),
    )
    return url


def _lookup(
    state: ServerState, channel_name: str, key: str, token: str | None
) -> tuple[ChannelView | None, bool, int, OpenFile | None, bool]:
    """(the channel's view, private?, repodata max-age, the open file or None, is it a
    directory?) -- blocking, runs in a thread. A proxy channel's file is not opened here."""
    channel = state.catalog.get_channel(channel_name)
    max_age = state.settings.repodata_max_age
    view = None
    if channel is not None:
        view = state.channel_view(channel)
        state.channels.put(view)
        max_age = view.max_age
    if channel is None or channel.private:
        # Only a private channel needs the caller's token (reads of public ones ignore it).
        principal = authenticate(state.catalog, token)
        channel = readable_channel(state.catalog, channel_name, principal)
    if (view is not None and view.proxy is not None) or redirects(state, key):
        return view, channel.private, max_age, None, False
    return (view, channel.private, max_age, *_open(state, channel.name, key))


async def serve_channel_file(
    request: Request, channel_name: str, path: str, url_token: str | None
) -> Response:
    state = get_state(request)
    try:
        if channel_name in RESERVED_CHANNEL_NAMES:
            raise NotFound(f"no route /{channel_name}/{path[:200]}", hint="See /api/docs.")
        if path.startswith("as-of/"):
            return await _serve_as_of(request, state, channel_name, path, url_token)
        key = file_key(path)
        cached = await state.channels.refreshed(
            channel_name, partial(state.load_channel_view, channel_name)
        )
        view: ChannelView | None
        if cached is not None and not cached.channel.private:
            # The hot path: a public channel known to exist. No catalog query, no thread hop
            # (opening a local file is a few microseconds).
            private, max_age, view = False, cached.max_age, cached
            if view.proxy or redirects(state, key):
                opened, is_dir = None, False
            elif state.remote_files is not None:
                # A copy trusted without asking the bucket is served from the event loop.
                opened, is_dir = state.remote_files.open_fresh(channel_name, key), False
                if opened is None:
                    opened, is_dir = await anyio.to_thread.run_sync(_open, state, channel_name, key)
            else:
                opened, is_dir = _open(state, channel_name, key)
        else:
            token = presented_token(request.headers, url_token)
            view, private, max_age, opened, is_dir = await anyio.to_thread.run_sync(
                _lookup, state, channel_name, key, token
            )
        if view is not None and view.proxy is not None:  # read through from its upstreams
            from stockyard.server.proxy_files import serve_proxy_file

            return await serve_proxy_file(
                request, state, view, key, private=private, max_age=max_age
            )
        if redirects(state, key):
            url = await anyio.to_thread.run_sync(
                partial(_presigned, state, channel_name, key, private=private, max_age=max_age)
            )
            if url is not None:
                return RedirectResponse(url, status_code=302, headers={"cache-control": "no-store"})
        gz = None
        remote = state.remote_files
        if opened is not None and remote is None:
            gz = _published_gz(state, channel_name, key, opened, request.headers)
        elif opened is not None and remote is not None:
            if has_published_gz(key) and wants_gzip(key, opened.size, request.headers):
                gz = remote.open_fresh(channel_name, key + GZ_SUFFIX)
                if gz is None:
                    gz = await anyio.to_thread.run_sync(
                        _published_gz, state, channel_name, key, opened, request.headers
                    )
            if client_is_ahead(request.headers, key, opened, gz):
                opened, gz, is_dir = await anyio.to_thread.run_sync(
                    _reopen, state, channel_name, key, opened, gz, request
                )
    except StockyardError as exc:
        return stockyard_error_response(exc)
    if opened is None:
        if is_dir and not path.endswith("/"):
            return RedirectResponse(request.url.path + "/", status_code=301)
        return error_response(
            404,
            "NotFound",
            f"no file {key!r} in channel {channel_name!r}",
            "Clients fall back to repodata.json when a variant is missing.",
        )
    answer = plan_answer(state, channel_name, key, opened, private, max_age, gz, request.headers)
    return await send_answer(request, state, channel_name, key, answer)


def _reopen(
    state: ServerState,
    channel_name: str,
    key: str,
    opened: OpenFile,
    gz: OpenFile | None,
    request: Request,
) -> tuple[OpenFile | None, OpenFile | None, bool]:
    """Ask the bucket again for `key` (and its published `.gz`): the client is ahead of this
    replica's copies. Blocking."""
    opened.close()
    if gz is not None:
        gz.close()
    fresh, is_dir = _open(state, channel_name, key, check=True)
    if fresh is None:
        return None, None, is_dir
    return (
        fresh,
        _published_gz(state, channel_name, key, fresh, request.headers, check=True),
        is_dir,
    )


async def _serve_as_of(
    request: Request, state: ServerState, channel_name: str, path: str, url_token: str | None
) -> Response:
    from stockyard.server.as_of_files import as_of_file

    token = presented_token(request.headers, url_token)
    private, max_age, opened = await anyio.to_thread.run_sync(
        as_of_file, state, channel_name, path.removeprefix("as-of/"), token
    )
    answer = plan_answer(state, channel_name, path, opened, private, max_age, None, request.headers)
    return await send_answer(request, state, channel_name, path, answer)


@dataclass(slots=True)
class FileAnswer:
    """How a request for a channel file is answered: decided once, sent by the app's route
    (`send_answer`) or by the fast path (`server/fast_files.py`), so both send the same headers."""

    #: Headers every answer for the file carries (validators, caching, surrogate keys).
    headers: dict[str, str]
    #: The file whose bytes are sent: the file asked for, or its published `.gz`.
    body: OpenFile
    #: The body is the published `.gz` (sent with `Content-Encoding: gzip`).
    gzipped: bool
    #: The file is to be gzip-compressed on the fly (no published `.gz`).
    compressible: bool
    etag: str
    last_modified: str
    #: The request's validators match: answer 304.
    not_modified: bool


def plan_answer(
    state: ServerState,
    channel_name: str,
    key: str,
    opened: OpenFile,
    private: bool,
    max_age: int,
    gz: OpenFile | None,
    request_headers: Mapping[str, str],
) -> FileAnswer:
    """Decide the answer for `opened` (the file `key`), or for `gz`, its published `.gz`,
    which the caller opened only when this request is to get the gzip variant (`opened` is
    then closed)."""
    compressible = wants_gzip(key, opened.size, request_headers)
    if gz is not None:  # the gzip variant is the published file: its own validators
        opened.close()
        opened = gz
        etag = published_gz_etag(key, gz.size, gz.mtime_ns)
    else:
        etag = etag_for(key, opened.size, opened.mtime_ns)
        if compressible:
            etag = gzip_etag(etag)
    last_modified = http_date(opened.mtime_ns)
    headers = {
        "cache-control": cache_control(
            key, max_age=max_age, private=private, purged=_purged(state)
        ),
        "last-modified": last_modified,
        "accept-ranges": "bytes",
        "surrogate-key": surrogate_key_header(channel_name, key),
    }
    if key.endswith((".json", ".html")):
        headers["vary"] = "Accept-Encoding"
    headers["etag"] = etag
    if_none_match = request_headers.get("if-none-match")
    if_modified_since = request_headers.get("if-modified-since")
    not_modified = (if_none_match is not None and if_none_match_hits(if_none_match, etag)) or (
        if_none_match is None
        and if_modified_since is not None
        and not_modified_since(if_modified_since, opened.mtime_ns)
    )
    return FileAnswer(
        headers=headers,
        body=opened,
        gzipped=gz is not None,
        compressible=compressible and gz is None,
        etag=etag,
        last_modified=last_modified,
        not_modified=not_modified,
    )


async def send_answer(
    request: Request, state: ServerState, channel_name: str, key: str, answer: FileAnswer
) -> Response:
    """Send `answer` (from `plan_answer`) for the file `key`."""
    headers, opened, etag = answer.headers, answer.body, answer.etag
    if answer.not_modified:
        opened.close()
        return Response(status_code=304, headers=headers)

    headers["content-type"] = media_type(key)
    accel = state.settings.accel_redirect
    if accel is not None:
        # nginx sends the file (validators, ranges, gzip); the app only said yes.
        opened.close()
        return Response(
            status_code=200,
            headers={
                "x-accel-redirect": f"{accel}{channel_name}/{key}",
                "cache-control": headers["cache-control"],
                "content-type": headers["content-type"],
            },
        )
    if answer.gzipped:
        headers["content-encoding"] = "gzip"
        return FileBody(opened, status=200, headers=headers.items())  # type: ignore[return-value]
    if answer.compressible:
        cache = gzip_cache_path(
            state.layout.state_dir(channel_name) / "gzip", key, opened.size, opened.mtime_ns
        )
        try:
            compressed = await anyio.to_thread.run_sync(gzip_variant, opened, cache)
        finally:
            opened.close()
        headers["content-encoding"] = "gzip"
        return FileBody(compressed, status=200, headers=headers.items())  # type: ignore[return-value]

    range_header = request.headers.get("range")
    if range_header is not None:
        if_range = request.headers.get("if-range")
        if if_range is None or if_range_matches(if_range, etag, answer.last_modified):
            wanted = parse_range(range_header, opened.size)
            if wanted is False:
                opened.close()
                return error_response(
                    416,
                    "RangeNotSatisfiable",
                    f"range {range_header!r} is outside the file ({opened.size} bytes)",
                    "Request a range that starts before the end of the file.",
                    headers={"content-range": f"bytes */{opened.size}", **headers},
                )
            if isinstance(wanted, tuple):
                start, end = wanted
                headers["content-range"] = f"bytes {start}-{end - 1}/{opened.size}"
                return FileBody(  # type: ignore[return-value]
                    opened, status=206, headers=headers.items(), start=start, length=end - start
                )
    return FileBody(opened, status=200, headers=headers.items())  # type: ignore[return-value]


async def channel_file(request: Request) -> Response:
    params = request.path_params
    return await serve_channel_file(request, params["channel"], params["path"], None)


async def token_channel_file(request: Request) -> Response:
    params = request.path_params
    return await serve_channel_file(request, params["channel"], params["path"], params["token"])


async def channel_root(request: Request) -> Response:
    """`/main` -> `/main/` (the channel's index.html), for people typing URLs."""
    return RedirectResponse(request.url.path + "/", status_code=301)


__all__ = ["channel_file", "channel_root", "file_key", "token_channel_file"]
