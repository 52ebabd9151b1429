"""CEP 27 attestations over HTTP (see stockyard.attest and docs/attestations.md).

- `POST /api/channels/{channel}/attestations/{filename}[?subdir=...]`: attach a Sigstore bundle
  (the JSON body) to an artifact already in the channel (write scope). It is verified like an
  upload's and kept in `<subdir>/<filename>.v0.sigs` in the channel's store (a local directory
  or the bucket), served by the channel file route.
- `GET /api/channels/{channel}/packages/{subdir}/{filename}/attestations`: who published the
  artifact (issuer, identity, workflow, repository, ref, run) from each kept bundle.

Also the two steps the upload path takes (`check_upload_attestation` before the commit,
`keep_upload_attestation` right after it), so that server/uploads.py only calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Request

from stockyard.attest.service import ArtifactRef, attach, attestations_of, check_upload, keep
from stockyard.attest.verify import MAX_BUNDLE_BYTES, AttestationRefused
from stockyard.catalog import Channel
from stockyard.server.api import Caller, State
from stockyard.server.auth import channel_for, readable_channel
from stockyard.server.models import ErrorOut
from stockyard.server.state import ServerState
from stockyard.types.errors import InvalidIdentifier, NotFound, SizeLimitExceeded, StockyardError
from stockyard.types.identifiers import check_subdir, parse_artifact_filename

if TYPE_CHECKING:
    from stockyard.attest.verify import VerifiedAttestation
    from stockyard.index.upload import UploadResult, ValidatedUpload

router = APIRouter(prefix="/api", tags=["attestations"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The attestation does not verify (`check` says why)."},
    401: {"model": ErrorOut, "description": "Missing or invalid token."},
    403: {"model": ErrorOut, "description": "The token lacks write scope on the channel."},
    404: {"model": ErrorOut, "description": "No such channel or artifact."},
    413: {"model": ErrorOut, "description": "The bundle is too large."},
}
Subdir = Annotated[str, Path(min_length=1, max_length=64)]
Filename = Annotated[str, Path(min_length=1, max_length=256)]


def _ref(
    state: ServerState, channel: Channel, subdir: str, filename: str, sha256: str
) -> ArtifactRef:
    return ArtifactRef(
        store=state.layout.store(channel.name),
        workspace=state.layout.workspace(channel.name),
        channel_url=state.channel_url(channel.name),
        subdir=subdir,
        filename=filename,
        sha256=sha256,
        changed=_changed(state, channel.name),
    )


def _changed(state: ServerState, name: str) -> Callable[[], None] | None:
    """With bucket storage, a changed sidecar is news for every replica's cached copies (the
    same notification a publish sends); local files are read fresh on every request."""
    if state.remote_files is None:
        return None
    return lambda: state.catalog.notify_published(name)


def _artifact(
    state: ServerState, channel: Channel, subdir: str | None, filename: str
) -> ArtifactRef:
    """The artifact `filename` of the channel, in `subdir` or wherever it is (404 for a name
    no artifact can have, as for one the channel does not hold)."""
    try:
        parse_artifact_filename(filename)
    except InvalidIdentifier as exc:
        raise NotFound(exc.message, hint=exc.hint) from None
    subdirs = [check_subdir(subdir)] if subdir else state.catalog.known_subdirs(channel.id)
    for candidate in subdirs:
        row = state.catalog.artifact(channel.id, candidate, filename)
        if row is not None and row.origin == "local":
            return _ref(state, channel, candidate, filename, row.sha256)
    raise NotFound(f"no artifact {filename} in channel {channel.name}")


def _policy(state: ServerState, channel: Channel) -> Any:
    from stockyard.index.policy import effective_policy

    return effective_policy(state.catalog, channel).attestations


def check_upload_attestation(
    state: ServerState, channel: Channel, upload: ValidatedUpload, data: bytes | None
) -> VerifiedAttestation | None:
    """Before the commit: the attestation sent, verified by the channel's policy (required or
    not, trusted publishers). A refusal deletes the spooled file, like the other policies."""
    ref = _ref(state, channel, upload.subdir, upload.filename, upload.meta.sha256)
    try:
        return check_upload(
            _policy(state, channel), data, ref, state.settings.attestation_trust_root
        )
    except StockyardError:
        upload.temp_path.unlink(missing_ok=True)
        raise


def keep_upload_attestation(
    state: ServerState, channel: Channel, result: UploadResult, verified: VerifiedAttestation | None
) -> None:
    """Right after the commit: the sidecar keeps what attests the committed bytes."""
    keep(_ref(state, channel, result.subdir, result.filename, result.sha256), verified)


async def _bundle_body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BUNDLE_BYTES:
            raise SizeLimitExceeded("attestation", f"bundles are at most {MAX_BUNDLE_BYTES} bytes")
    if not data:
        raise AttestationRefused("bundle", "the request body is empty; send the bundle JSON")
    return bytes(data)


@router.post("/channels/{channel}/attestations/{filename}", responses=_ERRORS, status_code=201)
async def post_attestation(
    channel: str,
    filename: Filename,
    request: Request,
    state: State,
    caller: Caller,
    subdir: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Attach a CEP 27 attestation (a Sigstore bundle, the JSON body) to an artifact of the
    channel. It is verified exactly as one sent with an upload, then served at
    `/<channel>/<subdir>/<filename>.v0.sigs`."""
    found = await anyio.to_thread.run_sync(channel_for, state.catalog, channel, caller, "write")
    data = await _bundle_body(request)
    ref = await anyio.to_thread.run_sync(_artifact, state, found, subdir, filename)
    policy = await anyio.to_thread.run_sync(_policy, state, found)
    trust_root = state.settings.attestation_trust_root
    verified, count = await anyio.to_thread.run_sync(attach, policy, data, ref, trust_root)
    return {
        "channel": found.name,
        "subdir": ref.subdir,
        "filename": ref.filename,
        "sha256": ref.sha256,
        "signer": verified.signer.to_dict(),
        "attestations": count,
        "url": f"{ref.channel_url}/{ref.subdir}/{ref.filename}.v0.sigs",
    }


@router.get("/channels/{channel}/packages/{subdir}/{filename}/attestations", responses=_ERRORS)
def get_attestations(
    channel: str, subdir: Subdir, filename: Filename, state: State, caller: Caller
) -> dict[str, Any]:
    """Who published the artifact: for each kept attestation, the signer's OIDC issuer and
    identity and, for CI identities, the workflow, repository, ref and run (from the signing
    certificate), and the transparency log index and time. Each was verified when accepted."""
    found = readable_channel(state.catalog, channel, caller)
    ref = _artifact(state, found, subdir, filename)
    return {
        "channel": found.name,
        "subdir": ref.subdir,
        "filename": ref.filename,
        "sha256": ref.sha256,
        "url": f"{ref.channel_url}/{ref.subdir}/{ref.filename}.v0.sigs",
        "attestations": attestations_of(ref),
    }
