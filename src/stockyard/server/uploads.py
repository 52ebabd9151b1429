"""Uploads in the protocols clients already speak (rattler-build `upload quetz|prefix|artifactory`).

- quetz:       `POST /api/channels/{channel}/upload/{filename}?sha256=...&force=false`,
               `X-API-Key`, the artifact as the raw body.
- prefix.dev:  `POST /api/v1/upload/{channel}[?force=true]`, `Authorization: Bearer`, multipart
               with a `file` part (headers `X-File-Name`, `X-File-SHA256`) and an optional
               `attestation` part; older clients send the raw body with those request headers.
- artifactory: `PUT /{channel}/{subdir}/{filename}`, Bearer or Basic (password = token).

The caller's write scope is checked before the body is read. The body is spooled to the
channel's state directory with a hard size cap (413 as soon as it is exceeded) and an idle
timeout (408 when no byte arrives for `upload_idle_timeout` seconds), then handed to
`validate_upload` (everything `stockyard package verify` checks) and committed with the other
uploads waiting for the channel. Any failure deletes the spooled file; nothing is stored.
Success is 201 with a JSON summary. Spool files a crash leaves are removed by server/spool.py.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio
import msgspec
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from stockyard.catalog import Channel

if TYPE_CHECKING:
    from stockyard.index.upload import ValidatedUpload
    from stockyard.types.policy import LicenseRules, ScanPolicy
from stockyard.server import attest_api
from stockyard.server.auth import authenticate, channel_for, presented_token
from stockyard.server.errors import stockyard_error_response
from stockyard.server.spool import FILE_SUFFIX, SPOOL_DIR, SpoolOwner
from stockyard.server.state import ServerState, get_state
from stockyard.types.errors import Conflict, InvalidMetadata, SizeLimitExceeded, StockyardError
from stockyard.types.identifiers import check_sha256, check_subdir, parse_artifact_filename
from stockyard.types.labels import DEFAULT_LABEL, check_served_label

#: Buffered bytes are written to disk (in a worker thread) once this much has arrived.
_FLUSH_AT: Final = 1 << 20
#: Non-file multipart fields (attestation, small form values) are held in memory up to this.
MAX_FIELD_BYTES: Final = 4 << 20
_TRUE: Final = frozenset({"1", "true", "yes", "on"})


class InvalidUpload(StockyardError):
    """The request does not carry an upload in a form the server understands."""

    default_hint = "Upload with rattler-build (quetz, prefix or artifactory) or see docs/serve.md."


class UploadTimeout(StockyardError):
    """The client stopped sending the upload body."""

    default_hint = "Retry the upload; check the network between the client and the server."
    http_status = 408


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


async def _body_chunks(request: Request, idle_timeout: float, label: str) -> AsyncIterator[bytes]:
    """The request body, refusing a client that sends nothing for `idle_timeout` seconds."""
    stream = request.stream()
    while True:
        try:
            with anyio.fail_after(idle_timeout):
                chunk = await anext(stream)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadTimeout(
                f"{label}: no data arrived for {idle_timeout:g} s; the upload was abandoned"
            ) from None
        yield chunk


class _Spool:
    """A temp file in `directory`, owned by this process, that refuses to grow past `limit`."""

    def __init__(self, directory: Path, limit: int, label: str, owner: SpoolOwner) -> None:
        owner.claim(directory)
        fd, name = tempfile.mkstemp(prefix=owner.file_prefix, suffix=FILE_SUFFIX, dir=directory)
        self.handle = os.fdopen(fd, "wb")
        self.path = Path(name)
        self.limit = limit
        self.label = label
        self.size = 0
        self._buffer: list[bytes] = []
        self._buffered = 0

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise SizeLimitExceeded(
                self.label,
                f"the upload is larger than the server's limit of {self.limit} bytes",
                hint="Raise max_upload_bytes (STOCKYARD_MAX_UPLOAD_BYTES) if this is expected.",
            )
        self._buffer.append(data)
        self._buffered += len(data)

    @property
    def should_flush(self) -> bool:
        return self._buffered >= _FLUSH_AT

    async def flush(self) -> None:
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        await anyio.to_thread.run_sync(self.handle.write, data)

    async def finish(self) -> Path:
        await self.flush()
        self.handle.close()
        return self.path

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@dataclass(slots=True)
class Spooled:
    path: Path
    filename: str | None = None
    sha256: str | None = None
    attestation: bytes | None = None
    fields: dict[str, str] = field(default_factory=dict)


def _check_declared_length(request: Request, limit: int, label: str) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise SizeLimitExceeded(
            label,
            f"the upload ({declared} bytes) is larger than the server's limit of {limit} bytes",
            hint="Raise max_upload_bytes (STOCKYARD_MAX_UPLOAD_BYTES) if this is expected.",
        )


async def spool_raw(
    request: Request,
    directory: Path,
    limit: int,
    label: str,
    *,
    owner: SpoolOwner,
    idle_timeout: float,
) -> Spooled:
    spool = _Spool(directory, limit, label, owner)
    try:
        async for chunk in _body_chunks(request, idle_timeout, label):
            spool.add(chunk)
            if spool.should_flush:
                await spool.flush()
        if spool.size == 0:
            raise InvalidUpload(f"{label}: the request body is empty")
        return Spooled(await spool.finish())
    except BaseException:
        spool.discard()
        raise


class _MultipartUpload:
    """Collects a multipart body: the `file` part to a spool, the rest in (capped) memory."""

    def __init__(self, directory: Path, limit: int, owner: SpoolOwner) -> None:
        self.directory = directory
        self.limit = limit
        self.owner = owner
        self.spool: _Spool | None = None
        self.file_headers: dict[str, str] = {}
        self.fields: dict[str, bytearray] = {}
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[str, str] = {}
        self._target: str | None = None
        self._field_bytes = 0

    # python-multipart callbacks (synchronous; disk writes are deferred to `flush`).
    def on_part_begin(self) -> None:
        self._headers = {}
        self._target = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").strip().lower()] = (
            self._header_value.decode("latin-1").strip()
        )
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        name = options.get(b"name", b"").decode("latin-1")
        if name == "file":
            if self.spool is not None:
                raise InvalidUpload("send one `file` part per request")
            self.file_headers = dict(self._headers)
            filename = options.get(b"filename")
            if filename and "x-file-name" not in self.file_headers:
                self.file_headers["x-file-name"] = filename.decode("utf-8", "replace")
            label = self.file_headers.get("x-file-name", "upload")
            if "x-file-name" in self.file_headers:
                parse_artifact_filename(label)  # a bad name stops the upload before its bytes
            self.spool = _Spool(self.directory, self.limit, label, self.owner)
            self._target = "file"
        else:
            self._target = name or "unnamed"
            self.fields.setdefault(self._target, bytearray())

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target == "file":
            assert self.spool is not None
            self.spool.add(data[start:end])
        elif self._target is not None:
            self._field_bytes += end - start
            if self._field_bytes > MAX_FIELD_BYTES:
                raise SizeLimitExceeded(
                    self._target, f"form fields are larger than {MAX_FIELD_BYTES} bytes"
                )
            self.fields[self._target] += data[start:end]

    def on_part_end(self) -> None:
        self._target = None

    def discard(self) -> None:
        if self.spool is not None:
            self.spool.discard()


async def spool_multipart(
    request: Request, directory: Path, limit: int, *, owner: SpoolOwner, idle_timeout: float
) -> Spooled:
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidUpload("multipart body without a boundary")
    upload = _MultipartUpload(directory, limit, owner)
    callbacks = {
        name: getattr(upload, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(boundary, callbacks, max_header_count=32)  # type: ignore[arg-type]
    try:
        async for chunk in _body_chunks(request, idle_timeout, "upload"):
            try:
                parser.write(chunk)
            except StockyardError:
                raise
            except Exception as exc:  # python-multipart's parse errors
                raise InvalidUpload(f"malformed multipart body: {exc}") from None
            if upload.spool is not None and upload.spool.should_flush:
                await upload.spool.flush()
        parser.finalize()
        if upload.spool is None:
            raise InvalidUpload(
                "the multipart body has no `file` part",
                hint="Send the artifact in a part named `file` (rattler-build upload prefix).",
            )
        path = await upload.spool.finish()
    except BaseException:
        upload.discard()
        raise
    fields = {name: bytes(value) for name, value in upload.fields.items()}
    return Spooled(
        path,
        filename=upload.file_headers.get("x-file-name"),
        sha256=upload.file_headers.get("x-file-sha256"),
        attestation=fields.pop("attestation", None),
        fields={k: v.decode("utf-8", "replace") for k, v in fields.items()},
    )


def _authorize(state: ServerState, channel_name: str, token: str | None) -> Channel:
    principal = authenticate(state.catalog, token)
    channel = channel_for(state.catalog, channel_name, principal, "write")
    if state.catalog.channel_policy(channel.id).proxy is not None:
        raise Conflict(
            f"channel {channel.name!r} is a proxy channel: its packages come from its upstreams",
            hint="Upload to the upstream channel, or to another channel of this server.",
        )
    return channel


class LicenseRefused(StockyardError):
    """An upload whose license the channel's license rules refuse."""

    default_hint = (
        "The channel accepts only some licenses (ask its operator: stockyard channel license); "
        "check the recipe's `about.license`, an SPDX expression."
    )


def _check_policies(state: ServerState, channel: Channel, upload: ValidatedUpload) -> None:
    """The channel's license rules and scan policy; a refusal deletes the spooled file."""
    from stockyard.index.policy import effective_policy

    policy = effective_policy(state.catalog, channel)
    try:
        if policy.license is not None:
            _check_license(policy.license, upload)
        if policy.scan is not None and policy.scan.mode != "off":
            _check_scan(state, policy.scan, upload)
    except StockyardError:
        upload.temp_path.unlink(missing_ok=True)
        raise


def _check_license(rules: LicenseRules, upload: ValidatedUpload) -> None:
    from stockyard.mirror.license_policy import LicensePolicy

    verdict = LicensePolicy.build(rules.allow, rules.deny, rules.unknown).judge(
        upload.meta.index_json.get("license")
    )
    if not verdict.accepted:
        raise LicenseRefused(f"{upload.filename}: {verdict.reason}")


def _check_scan(state: ServerState, policy: ScanPolicy, upload: ValidatedUpload) -> None:
    """Scan the upload against the server's OSV data (`stockyard scan db update`)."""
    from stockyard.scan.store import ScanStore, default_scan_db
    from stockyard.scan.upload import scan_upload

    store = ScanStore(default_scan_db(state.settings.data_path))
    try:
        refusal = scan_upload(store, upload.temp_path, upload.filename, policy)
    finally:
        store.close()
    if refusal is not None:
        raise refusal.to_error()


def _label_target(state: ServerState, channel: Channel, label: str | None) -> Channel:
    """Where an upload with `label` goes: the channel root for none or `main`, else the
    label's channel (created on first use; rights are the channel's, checked already)."""
    if label is None or label == DEFAULT_LABEL:
        return channel
    from stockyard.server.channels import ensure_label_channel

    name = ensure_label_channel(state.settings, state.catalog, channel.name, label)
    return state.catalog.require_channel(name)


def _requested_label(request: Request, spooled: Spooled, path_label: str | None) -> str | None:
    """The label from the URL path (PUT), `?label=`, or the prefix form's `label` field."""
    return path_label or request.query_params.get("label") or spooled.fields.get("label") or None


async def _upload(
    request: Request,
    *,
    protocol: str,
    channel_name: str,
    filename: str | None,
    url_token: str | None = None,
    subdir: str | None = None,
    path_label: str | None = None,
) -> Response:
    state = get_state(request)
    limit = state.settings.max_upload_bytes
    spooled: Spooled | None = None
    try:
        token = presented_token(request.headers, url_token)
        channel = await anyio.to_thread.run_sync(_authorize, state, channel_name, token)
        label = filename or request.headers.get("x-file-name") or "upload"
        _check_declared_length(request, limit, label)
        multipart = request.headers.get("content-type", "").lower().startswith("multipart/")
        if protocol == "prefix" and not multipart:
            filename = request.headers.get("x-file-name")  # older clients: raw body + headers
        if filename is not None:
            parse_artifact_filename(filename)  # refuse ../ and odd names before reading a byte
        if subdir is not None:
            check_subdir(subdir)
        if path_label or request.query_params.get("label"):  # refused before reading a byte
            check_served_label(path_label or request.query_params["label"])
        spool_dir = state.layout.state_dir(channel.name) / SPOOL_DIR
        owner, idle = state.spool_owner, state.settings.upload_idle_timeout
        if protocol == "prefix" and multipart:
            spooled = await spool_multipart(
                request, spool_dir, limit, owner=owner, idle_timeout=idle
            )
        else:
            spooled = await spool_raw(
                request, spool_dir, limit, label, owner=owner, idle_timeout=idle
            )
        name = filename or spooled.filename
        if not name:
            raise InvalidUpload(
                "the upload does not say its filename",
                hint="Send X-File-Name (prefix protocol) or put the filename in the URL.",
            )
        sha256 = (
            spooled.sha256
            or request.headers.get("x-file-sha256")
            or request.query_params.get("sha256")
            or None
        )
        if sha256 is not None:
            sha256 = check_sha256(sha256.strip())
        if spooled.attestation is not None:
            try:
                msgspec.json.decode(spooled.attestation)
            except msgspec.DecodeError:
                raise InvalidMetadata(
                    "the attestation part is not JSON",
                    hint="Send the attestation bundle (a JSON document) as the `attestation` part.",
                ) from None
        force = _flag(request.query_params.get("force")) or _flag(spooled.fields.get("force"))
        target_label = _requested_label(request, spooled, path_label)
        if target_label is not None:
            check_served_label(target_label)
        from stockyard.index.upload import validate_upload

        validate = partial(
            validate_upload,
            name,
            spooled.path,
            subdir=subdir,
            sha256=sha256,
            force=force,
            attestation=None,  # verified below and kept as <filename>.v0.sigs (stockyard.attest)
        )
        attestation = spooled.attestation
        path, spooled = spooled.path, None  # validate_upload deletes the file if it refuses it
        try:
            upload = await anyio.to_thread.run_sync(validate)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            raise
        channel = await anyio.to_thread.run_sync(_label_target, state, channel, target_label)
        await anyio.to_thread.run_sync(_check_policies, state, channel, upload)
        verified = await anyio.to_thread.run_sync(
            attest_api.check_upload_attestation, state, channel, upload, attestation
        )
        # Committed with every other upload waiting for this channel (one lock, one publish).
        result = await state.upload_batcher(channel).submit(upload)
        await anyio.to_thread.run_sync(
            attest_api.keep_upload_attestation, state, channel, result, verified
        )
    except StockyardError as exc:
        state.metrics.upload(protocol, error=exc)
        response = stockyard_error_response(exc)
        if isinstance(exc, UploadTimeout):
            response.headers["connection"] = "close"  # the rest of the body is not read
        return response
    except ClientDisconnect as exc:
        state.metrics.upload(protocol, error=exc)
        return Response(status_code=400)
    except Exception as exc:  # a bug: counted, then answered 500 by the error handlers
        state.metrics.upload(protocol, error=exc)
        raise
    finally:
        if spooled is not None:
            with contextlib.suppress(FileNotFoundError):
                spooled.path.unlink()
    state.metrics.upload(protocol, seconds=result.seconds)
    key = f"{result.subdir}/{result.filename}"
    return JSONResponse(
        {
            "channel": result.channel,
            "subdir": result.subdir,
            "filename": result.filename,
            "sha256": result.sha256,
            "size": result.size,
            "replaced": result.replaced,
            "seconds": round(result.seconds, 4),
            "url": f"{state.channel_url(channel.name)}/{key}",
            "warnings": [warning.to_dict() for warning in result.warnings],
        },
        status_code=201,
    )


async def quetz_upload(request: Request) -> Response:
    """`POST /api/channels/{channel}/upload/{filename}` (quetz; rattler-build upload quetz)."""
    params = request.path_params
    return await _upload(
        request, protocol="quetz", channel_name=params["channel"], filename=params["filename"]
    )


async def prefix_upload(request: Request) -> Response:
    """`POST /api/v1/upload/{channel}` (prefix.dev; rattler-build upload prefix)."""
    return await _upload(
        request, protocol="prefix", channel_name=request.path_params["channel"], filename=None
    )


async def put_upload(request: Request) -> Response:
    """`PUT [/t/{token}]/{channel}[/label/{label}]/{subdir}/{filename}` (rattler-build upload
    artifactory)."""
    params = request.path_params
    return await _upload(
        request,
        protocol="put",
        channel_name=params["channel"],
        filename=params["filename"],
        subdir=params["subdir"],
        url_token=params.get("token"),
        path_label=params.get("label"),
    )
