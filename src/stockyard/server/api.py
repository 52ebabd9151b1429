"""The JSON API under `/api`: channels, packages, versions and tokens.

Handlers are plain `def`s: FastAPI runs them in worker threads, so blocking catalog reads never
stall the event loop. Every route applies the visibility rules of `auth`: a private channel is
404 without a read token and absent from listings.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from rattler import Version
from rattler.exceptions import InvalidVersionError

from stockyard.catalog import ArtifactDetail, Channel, TokenInfo
from stockyard.server.auth import (
    Principal,
    authenticate,
    channel_for,
    presented_token,
    readable_channel,
    require_server_scope,
)
from stockyard.server.client_commands import install_commands
from stockyard.server.models import (
    BuildOut,
    ChannelCreateIn,
    ChannelDetailOut,
    ChannelOut,
    ErrorOut,
    PackageDetailOut,
    PackageListOut,
    PackageSummaryOut,
    TokenCreatedOut,
    TokenCreateIn,
    TokenOut,
    VersionOut,
)
from stockyard.server.state import ServerState, get_state
from stockyard.types.errors import NotFound
from stockyard.types.labels import is_label_channel

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such (visible) channel or package."}
}
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "An invalid name or value."},
    401: {"model": ErrorOut, "description": "Missing or invalid token."},
    403: {"model": ErrorOut, "description": "The token lacks the needed scope."},
}

router = APIRouter(prefix="/api", tags=["api"])


def principal(request: Request) -> Principal:
    """The caller, from X-API-Key, Bearer or Basic credentials (looked up on every request)."""
    return authenticate(get_state(request).catalog, presented_token(request.headers))


State = Annotated[ServerState, Depends(get_state)]
Caller = Annotated[Principal, Depends(principal)]


def _channel_out(state: ServerState, channel: Channel) -> ChannelOut:
    return ChannelOut(
        name=channel.name,
        private=channel.private,
        description=channel.description,
        url=state.channel_url(channel.name),
        created_at=channel.created_at,
    )


@router.get("/channels", response_model=list[ChannelOut], summary="Channels you can read")
def get_channels(state: State, caller: Caller) -> list[ChannelOut]:
    return [
        _channel_out(state, channel)
        for channel in state.catalog.list_channels()
        if caller.can_read(channel) and not is_label_channel(channel.name)  # see /labels
    ]


@router.post(
    "/channels",
    response_model=ChannelOut,
    status_code=201,
    responses={
        **_AUTH_ERRORS,
        409: {
            "model": ErrorOut,
            "description": "Name taken or reserved, or an upstream given twice",
        },
    },
    summary="Create a channel (server-wide admin token)",
)
def post_channel(body: ChannelCreateIn, state: State, caller: Caller) -> ChannelOut:
    from stockyard.server.channels import create_channel
    from stockyard.types.policy import ProxyPolicy

    require_server_scope(caller, "admin", "creating a channel")
    channel = create_channel(
        state.settings,
        state.catalog,
        body.name,
        private=body.private,
        description=body.description,
        proxy=ProxyPolicy(upstreams=tuple(body.proxy)) if body.proxy else None,
    )
    return _channel_out(state, channel)


@router.get(
    "/channels/{channel}",
    response_model=ChannelDetailOut,
    responses=_ERRORS,
    summary="One channel: subdirs and counts",
)
def get_channel(channel: str, state: State, caller: Caller) -> ChannelDetailOut:
    from stockyard.labels import channel_labels

    found = readable_channel(state.catalog, channel, caller)
    stats = state.catalog.channel_stats(found.id)
    return ChannelDetailOut(
        **_channel_out(state, found).model_dump(),
        subdirs=stats.subdirs,
        package_count=stats.package_count,
        artifact_count=stats.artifact_count,
        last_upload=stats.last_upload,
        labels=channel_labels(state.catalog, found.name),
    )


@router.get(
    "/channels/{channel}/packages",
    response_model=PackageListOut,
    responses=_ERRORS,
    summary="Search a channel's packages by name",
)
def get_packages(
    channel: str,
    state: State,
    caller: Caller,
    q: Annotated[str, Query(max_length=200, description="Part of the package name.")] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PackageListOut:
    found = readable_channel(state.catalog, channel, caller)
    total, page = state.catalog.search_packages(found.id, q, limit=limit, offset=offset)
    return PackageListOut(
        channel=found.name,
        total=total,
        limit=limit,
        offset=offset,
        packages=[
            PackageSummaryOut(
                name=item.name,
                version=_text(item.entry.get("version")),
                summary=_text(item.entry.get("summary")),
                license=_text(item.entry.get("license")),
                home=_text(item.entry.get("home")),
                subdirs=[str(s) for s in item.entry.get("subdirs") or []],
                timestamp=_int(item.entry.get("timestamp")),
            )
            for item in page
        ],
    )


@router.get(
    "/channels/{channel}/packages/{name}",
    response_model=PackageDetailOut,
    responses=_ERRORS,
    summary="A package: versions with their builds per subdir",
)
def get_package(channel: str, name: str, state: State, caller: Caller) -> PackageDetailOut:
    found = readable_channel(state.catalog, channel, caller)
    artifacts = state.catalog.package_artifacts(found.id, name)
    if not artifacts:
        raise NotFound(f"no package {name!r} in channel {channel!r}")
    entry = state.catalog.package_entry(found.id, name) or {}
    base = state.channel_url(found.name)
    versions = group_versions(artifacts, base)
    return PackageDetailOut(
        channel=found.name,
        name=name,
        latest_version=versions[0].version if versions else None,
        summary=_text(entry.get("summary")),
        description=_text(entry.get("description")),
        license=_text(entry.get("license")),
        home=_text(entry.get("home")),
        dev_url=_text(entry.get("dev_url")),
        doc_url=_text(entry.get("doc_url")),
        subdirs=sorted({a.subdir for a in artifacts}),
        versions=versions,
        install=install_commands(state.settings.base_url, found.name, name, private=found.private),
    )


def version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(text))
    except (InvalidVersionError, ValueError, TypeError):
        return (0, text)


def _sort_versions(versions: list[str]) -> list[str]:
    parsed = [(version_key(v), v) for v in versions]
    good = sorted((k[1], v) for k, v in parsed if k[0] == 1)
    bad = sorted(v for k, v in parsed if k[0] == 0)
    return [v for _, v in reversed(good)] + bad


def group_versions(artifacts: list[ArtifactDetail], channel_url: str) -> list[VersionOut]:
    """Builds grouped by version, newest version first (conda version order)."""
    by_version: dict[str, list[BuildOut]] = {}
    for artifact in artifacts:
        record = artifact.record
        by_version.setdefault(artifact.version, []).append(
            BuildOut(
                subdir=artifact.subdir,
                filename=artifact.filename,
                version=artifact.version,
                build=artifact.build,
                build_number=_int(record.get("build_number")) or 0,
                depends=[str(d) for d in record.get("depends") or []],
                constrains=[str(d) for d in record.get("constrains") or []],
                license=_text(record.get("license")),
                noarch=_text(record.get("noarch")),
                size=artifact.size,
                sha256=artifact.sha256,
                md5=artifact.md5,
                uploaded_at=artifact.indexed_timestamp,
                timestamp=_int(record.get("timestamp")),
                url=f"{channel_url}/{artifact.subdir}/{artifact.filename}",
            )
        )
    out = []
    for version in _sort_versions(list(by_version)):
        builds = sorted(by_version[version], key=lambda b: (b.subdir, -b.build_number, b.filename))
        out.append(VersionOut(version=version, builds=builds))
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- tokens -------------------------------------------------------------------------------------


def _token_out(info: TokenInfo) -> TokenOut:
    return TokenOut(
        id=info.id,
        prefix=info.prefix,
        scope=info.scope,
        channel=info.channel_name,
        description=info.description,
        created_at=info.created_at,
        expires_at=info.expires_at,
        revoked_at=info.revoked_at,
        last_used_at=info.last_used_at,
        status=info.status(),
    )


@router.get(
    "/tokens",
    response_model=list[TokenOut],
    responses=_AUTH_ERRORS,
    summary="List tokens (server-wide admin token); never the tokens themselves",
)
def get_tokens(state: State, caller: Caller) -> list[TokenOut]:
    require_server_scope(caller, "admin", "listing tokens")
    return [_token_out(info) for info in state.catalog.list_tokens()]


@router.post(
    "/tokens",
    response_model=TokenCreatedOut,
    status_code=201,
    responses={**_AUTH_ERRORS, **_ERRORS},
    summary="Create a token (admin on the channel, or server-wide admin)",
)
def post_token(body: TokenCreateIn, state: State, caller: Caller) -> TokenCreatedOut:
    if body.channel is None:
        require_server_scope(caller, "admin", "creating a server-wide token")
        channel = None
    else:
        channel = channel_for(state.catalog, body.channel, caller, "admin")
    created = state.catalog.create_token(
        scope=body.scope,
        channel=channel,
        expires_in=body.expires_in,
        description=body.description,
    )
    return TokenCreatedOut(**_token_out(created.info).model_dump(), token=created.token)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    responses={**_AUTH_ERRORS, **_ERRORS},
    summary="Revoke a token (server-wide admin token); effective at once",
)
def delete_token(
    token_id: Annotated[int, Path(ge=1, le=2**62)],
    state: State,
    caller: Caller,
    purge: Annotated[
        bool, Query(description="Delete the token's record too (default: revoke, keep it listed).")
    ] = False,
) -> Response:
    require_server_scope(caller, "admin", "revoking a token")
    state.catalog.resolve_token(str(token_id))
    if purge:
        state.catalog.delete_token(str(token_id))
    else:
        state.catalog.revoke_token(str(token_id))
    return Response(status_code=204)
