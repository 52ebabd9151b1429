"""`stockyard token create|list|revoke`: API tokens (stored hashed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stderr, stdout

if TYPE_CHECKING:
    from stockyard.catalog import TokenInfo

token_app = typer.Typer(help="Create, list, revoke and delete API tokens.", no_args_is_help=True)


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _token_dict(info: TokenInfo) -> dict[str, Any]:
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
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the token and its details as JSON."),
) -> None:
    """Create a token. It is printed once; only its hash is stored."""
    from stockyard.catalog.tokens import check_scope
    from stockyard.config import parse_duration
    from stockyard.server.channels import open_catalog

    check_scope(scope)
    expires_in = parse_duration(expires) if expires else None
    settings = load_cli_settings(config, data)
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
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tokens: prefix, scope, channel, expiry, status (never the tokens)."""
    from stockyard.server.channels import open_catalog

    catalog = open_catalog(load_cli_settings(config, data))
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
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Revoke a token; the server refuses it from the next request on."""
    from stockyard.server.channels import open_catalog

    catalog = open_catalog(load_cli_settings(config, data))
    try:
        info = catalog.revoke_token(token)
    finally:
        catalog.close()
    if as_json:
        print_json(_token_dict(info))
        return
    stdout.print(f"revoked token {info.id} ({info.prefix}...)", highlight=False)


@token_app.command("delete")
def token_delete(
    token: str = typer.Argument(..., help="The token's id, its prefix, or the token itself."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: the token and its record go."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """Delete a token for good (revoke keeps it listed as revoked)."""
    from stockyard.server.channels import open_catalog
    from stockyard.types.errors import ConfigError

    if not yes:
        raise ConfigError(
            "deleting a token removes it and its record for good",
            hint=f"Run again with --yes, or keep it listed with: stockyard token revoke {token}",
        )
    catalog = open_catalog(load_cli_settings(config, data))
    try:
        info = catalog.delete_token(token)
    finally:
        catalog.close()
    stdout.print(f"deleted token {info.id} ({info.prefix}...)", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
