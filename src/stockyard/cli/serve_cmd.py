"""`stockyard serve`, `stockyard channel ...` and `stockyard token ...`.

All of them work on one data directory (`--data`, `STOCKYARD_DATA_DIR`, or `data_dir` in the
settings file) and its catalog, so tokens and channels made here are the server's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from stockyard.cli.output import print_json, stderr, stdout

channel_app = typer.Typer(help="Create and list the server's channels.", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

_DATA_HELP = "Data directory (catalog and channels). Default: ./stockyard-data."
_CONFIG_HELP = "Settings file (TOML). Default: $STOCKYARD_CONFIG."


def _settings(config: Path | None, data: Path | None, **flags: Any):  # type: ignore[no-untyped-def]
    from stockyard.config import load_settings

    overrides = {"data_dir": str(data) if data is not None else None, **flags}
    return load_settings(config, overrides=overrides)


def serve(
    data: Path = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    host: str = typer.Option(None, "--host", help="Address to listen on. Default: 127.0.0.1."),
    port: int = typer.Option(None, "--port", "-p", help="Port to listen on. Default: 8000."),
    workers: int = typer.Option(None, "--workers", "-w", help="Worker processes. Default: 1."),
    public_url: str = typer.Option(
        None, "--public-url", help="The URL clients use (behind a proxy), for printed commands."
    ),
    config: Path = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    no_reindex: bool = typer.Option(
        False, "--no-reindex", help="Do not rescan the channel directories at start."
    ),
) -> None:
    """Serve conda channels over HTTP: the channel protocol, uploads, the JSON API.

    The first start creates the data directory, the public channel `main` and an admin token,
    and prints the commands to install from and upload to the server.
    """
    import logging.config
    import os

    import uvicorn

    from stockyard.server.app import SETTINGS_ENV, create_app
    from stockyard.server.channels import bootstrap
    from stockyard.server.observability import logging_config

    settings = _settings(config, data, host=host, port=port, workers=workers, public_url=public_url)
    result = bootstrap(settings, reindex=not no_reindex)
    _print_banner(settings, result)
    log_config = logging_config(settings.log_format, settings.log_level)
    logging.config.dictConfig(log_config)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config,
        "access_log": False,  # our access log redacts /t/<token>/; uvicorn's would not
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    if settings.workers > 1:
        os.environ[SETTINGS_ENV] = settings.to_json().decode()
        uvicorn.run(
            "stockyard.server.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            **common,
        )
    else:
        uvicorn.run(create_app(settings), **common)


def _print_banner(settings, result) -> None:  # type: ignore[no-untyped-def]
    from stockyard.server.client_commands import channel_url, install_commands, upload_commands

    base = settings.base_url
    stdout.print(
        f"[bold]Stockyard[/] serving {result.data_dir} at [link={base}]{base}[/link]",
        highlight=False,
    )
    for channel in result.channels:
        kind = "private" if channel.private else "public"
        stdout.print(
            f"  channel [bold]{channel.name}[/] ({kind}): {channel_url(base, channel.name)}",
            highlight=False,
        )
    first = next((c for c in result.channels if not c.private), None)
    if result.admin_token:
        stdout.print(
            "\n[bold yellow]Admin token[/] (shown once, stored hashed; keep it):\n"
            f"  {result.admin_token}",
            highlight=False,
        )
    if first is not None:
        stdout.print("\nInstall from it:", highlight=False)
        for command in install_commands(base, first.name).values():
            # pixi's is two lines; keep both indented
            stdout.print("  " + command.replace("\n", "\n  "), highlight=False, markup=False)
        stdout.print("\nUpload to it:", highlight=False)
        for command in upload_commands(base, first.name, result.admin_token).values():
            stdout.print(f"  {command}", highlight=False, markup=False)
    stdout.print(
        f"\nAPI: {base}/api/docs   health: {base}/health   metrics: {base}/metrics\n",
        highlight=False,
    )


# --- channels -----------------------------------------------------------------------------------


@channel_app.command("create")
def channel_create(
    name: str = typer.Argument(..., help="Channel name (lowercase letters, digits, . _ -)."),
    private: bool = typer.Option(
        False, "--private", help="Only readable with a token: 404 for everyone else."
    ),
    description: str = typer.Option(None, "--description", help="A short description."),
    data: Path = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the channel as JSON."),
) -> None:
    """Create a channel and publish its (empty) repodata."""
    from stockyard.server.channels import create_channel, open_catalog

    settings = _settings(config, data)
    catalog = open_catalog(settings)
    try:
        channel = create_channel(settings, catalog, name, private=private, description=description)
    finally:
        catalog.close()
    url = f"{settings.base_url}/{channel.name}"
    if as_json:
        print_json({"name": channel.name, "private": channel.private, "url": url})
        return
    stdout.print(
        f"created {'private' if channel.private else 'public'} channel {channel.name}: {url}",
        highlight=False,
    )
    if channel.private:
        stdout.print(
            f"read it with a token: stockyard token create --channel {channel.name} --scope read",
            highlight=False,
            markup=False,
        )


@channel_app.command("visibility")
def channel_visibility(
    name: str = typer.Argument(..., help="The channel."),
    private: bool = typer.Option(
        ..., "--private/--public", help="Private: 404 for anyone without a read token."
    ),
    data: Path = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
) -> None:
    """Make a channel private or public (a running server follows within a second)."""
    from stockyard.server.channels import open_catalog, set_channel_visibility

    settings = _settings(config, data)
    catalog = open_catalog(settings)
    try:
        channel = set_channel_visibility(settings, catalog, name, private=private)
    finally:
        catalog.close()
    stdout.print(
        f"channel {channel.name} is now {'private' if channel.private else 'public'}",
        highlight=False,
    )


@channel_app.command("list")
def channel_list(
    data: Path = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List every channel (private ones included: this is the operator's view)."""
    from stockyard.server.channels import open_catalog

    settings = _settings(config, data)
    catalog = open_catalog(settings)
    try:
        rows = []
        for channel in catalog.list_channels():
            stats = catalog.channel_stats(channel.id)
            rows.append(
                {
                    "name": channel.name,
                    "private": channel.private,
                    "url": f"{settings.base_url}/{channel.name}",
                    "subdirs": stats.subdirs,
                    "packages": stats.package_count,
                    "artifacts": stats.artifact_count,
                }
            )
    finally:
        catalog.close()
    if as_json:
        print_json(rows)
        return
    if not rows:
        stderr.print("no channels yet: stockyard channel create NAME", highlight=False)
        return
    from rich.table import Table

    table = Table("channel", "visibility", "packages", "artifacts", "subdirs", "url")
    for row in rows:
        table.add_row(
            row["name"],
            "private" if row["private"] else "public",
            str(row["packages"]),
            str(row["artifacts"]),
            ", ".join(row["subdirs"]),
            row["url"],
        )
    stdout.print(table)


# --- tokens -------------------------------------------------------------------------------------


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _token_dict(info) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "id": info.id,
        "prefix": info.prefix,
        "scope": info.scope,
        "channel": info.channel_name,
        "description": info.description,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "revoked_at": info.revoked_at,
        "last_used_at": info.last_used_at,
        "status": info.status(),
    }


@token_app.command("create")
def token_create(
    scope: str = typer.Option(..., "--scope", "-s", help="read, write or admin."),
    channel: str = typer.Option(
        None, "--channel", help="The channel it is valid for. Default: every channel."
    ),
    expires: str = typer.Option(
        None, "--expires", help="Lifetime, e.g. 12h, 30d, 2w. Default: until revoked."
    ),
    description: str = typer.Option(None, "--description", help="What the token is for."),
    data: Path = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the token and its details as JSON."),
) -> None:
    """Create a token. It is printed once; only its hash is stored."""
    from stockyard.catalog.tokens import check_scope
    from stockyard.config import parse_duration
    from stockyard.server.channels import open_catalog

    check_scope(scope)
    expires_in = parse_duration(expires) if expires else None
    settings = _settings(config, data)
    catalog = open_catalog(settings)
    try:
        target = catalog.require_channel(channel) if channel else None
        created = catalog.create_token(
            scope=scope, channel=target, expires_in=expires_in, description=description
        )
    finally:
        catalog.close()
    if as_json:
        print_json({**_token_dict(created.info), "token": created.token})
        return
    where = f"channel {channel}" if channel else "every channel"
    stderr.print(
        f"{scope} token for {where}, expires {_when(created.info.expires_at)} "
        "(shown once, stored hashed):",
        highlight=False,
    )
    stdout.print(created.token, highlight=False, markup=False)


@token_app.command("list")
def token_list(
    data: Path = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tokens: prefix, scope, channel, expiry, status (never the tokens)."""
    from stockyard.server.channels import open_catalog

    catalog = open_catalog(_settings(config, data))
    try:
        infos = catalog.list_tokens()
    finally:
        catalog.close()
    if as_json:
        print_json([_token_dict(info) for info in infos])
        return
    from rich.table import Table

    table = Table("id", "prefix", "scope", "channel", "expires", "status", "description")
    for info in infos:
        table.add_row(
            str(info.id),
            info.prefix,
            info.scope,
            info.channel_name or "*",
            _when(info.expires_at),
            info.status(),
            info.description or "",
        )
    stdout.print(table)


@token_app.command("revoke")
def token_revoke(
    token: str = typer.Argument(..., help="The token's id, its prefix, or the token itself."),
    data: Path = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Revoke a token; the server refuses it from the next request on."""
    from stockyard.server.channels import open_catalog

    catalog = open_catalog(_settings(config, data))
    try:
        info = catalog.revoke_token(token)
    finally:
        catalog.close()
    if as_json:
        print_json(_token_dict(info))
        return
    stdout.print(f"revoked token {info.id} ({info.prefix}...)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(channel_app, name="channel")
    app.add_typer(token_app, name="token")
