"""`stockyard channel create|visibility|list|set-proxy|proxy-prune`: the server's channels."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stderr, stdout

channel_app = typer.Typer(
    help="Create, list, configure and delete the server's channels.", no_args_is_help=True
)


class _ChannelRow(TypedDict):
    """One channel of `stockyard channel list` (also its --json output)."""

    name: str
    private: bool
    url: str
    subdirs: list[str]
    packages: int
    artifacts: int


def _proxy_opt(name: str, help: str, default: Any = None) -> Any:
    return typer.Option(default, name, help=help, rich_help_panel="Proxy channels")


_MAX_BYTES_HELP = (
    "Bound of the proxy's cache (e.g. 20GB, 500MiB; 0: none): the least recently served "
    "artifacts beyond it are pruned."
)
_MAX_AGE_HELP = "Prune artifacts not served for this long (e.g. 30d, 12h; 0: never)."


def _bytes(text: str | None) -> int | None:
    from stockyard.config.settings import parse_size

    return None if text is None else parse_size(text.strip())


def _seconds(text: str | None) -> int | None:
    from stockyard.config.settings import parse_duration

    if text is None:
        return None
    return 0 if text.strip() == "0" else int(parse_duration(text))  # 0: no bound


@channel_app.command("create")
def channel_create(
    name: str = typer.Argument(..., help="Channel name (lowercase letters, digits, . _ -)."),
    private: bool = typer.Option(
        False, "--private", help="Only readable with a token: 404 for everyone else."
    ),
    description: str = typer.Option(None, "--description", help="A short description."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the channel as JSON."),
    proxy: list[str] = _proxy_opt(
        "--proxy", "A proxy channel of this upstream channel URL (repeatable: failover order)."
    ),
    proxy_ttl: int = _proxy_opt(
        "--proxy-ttl", "Seconds cached repodata is served before asking upstream again.", 60
    ),
    proxy_timeout: float = _proxy_opt(
        "--proxy-timeout", "Seconds an upstream may take before the next one is asked.", 30.0
    ),
    subdir: list[str] = _proxy_opt("--subdir", "Proxy only these subdirs (repeatable)."),
    include: list[str] = _proxy_opt("--include", "Proxy only records matching this MatchSpec."),
    exclude: list[str] = _proxy_opt("--exclude", "Never records matching this MatchSpec."),
    license_allow: list[str] = _proxy_opt("--license-allow", "Only these SPDX ids or globs."),
    license_deny: list[str] = _proxy_opt("--license-deny", "Never these SPDX ids or globs."),
    license_unknown: str = _proxy_opt(
        "--license-unknown", "allow|deny records whose license is unreadable.", "allow"
    ),
    max_cache_bytes: str = _proxy_opt("--max-cache-bytes", _MAX_BYTES_HELP),
    max_cache_age: str = _proxy_opt("--max-cache-age", _MAX_AGE_HELP),
) -> None:
    """Create a channel and publish its (empty) repodata; with --proxy, a proxy channel that
    serves its upstreams' packages read-through (docs/howto-mirror.md)."""
    from stockyard.server.channels import (
        create_channel,
        data_dir_exists,
        open_catalog,
        server_url,
    )
    from stockyard.types.policy import ProxyPolicy

    if license_unknown not in ("allow", "deny"):
        from stockyard.types.errors import ConfigError

        raise ConfigError(f"--license-unknown must be allow or deny, not {license_unknown!r}")
    policy = None
    if proxy:
        policy = ProxyPolicy(
            upstreams=tuple(proxy), ttl=proxy_ttl, timeout=proxy_timeout,
            subdirs=tuple(subdir or ()), include=tuple(include or ()),
            exclude=tuple(exclude or ()), license_allow=tuple(license_allow or ()),
            license_deny=tuple(license_deny or ()),
            license_unknown="deny" if license_unknown == "deny" else "allow",
            max_cache_bytes=_bytes(max_cache_bytes) or 0,
            max_cache_age=_seconds(max_cache_age) or 0,
        )  # fmt: skip
    elif subdir or include or exclude or license_allow or license_deny:
        from stockyard.types.errors import ConfigError

        raise ConfigError("filters apply to proxy channels only", hint="Add --proxy URL.")
    elif max_cache_bytes is not None or max_cache_age is not None:
        from stockyard.types.errors import ConfigError

        raise ConfigError("cache bounds apply to proxy channels only", hint="Add --proxy URL.")
    settings = load_cli_settings(config, data)
    if not data_dir_exists(settings):
        stderr.print(f"creating data directory {settings.data_path.resolve()}", highlight=False)
    catalog = open_catalog(settings, create=True)
    try:
        channel = create_channel(
            settings, catalog, name, private=private, description=description, proxy=policy
        )
    finally:
        catalog.close()
    url = f"{server_url(settings)}/{channel.name}"
    if as_json:
        from stockyard.mirror.fetch import redact

        shown = {"name": channel.name, "private": channel.private, "url": url}
        print_json({**shown, "proxy": [redact(u) for u in policy.upstreams]} if policy else shown)
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


@channel_app.command("delete")
def channel_delete(
    name: str = typer.Argument(..., help="The channel to delete, with every package in it."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: this cannot be undone."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """Delete a channel and all its packages (asks for --yes)."""
    from stockyard.server.channels import delete_channel, open_catalog
    from stockyard.types.errors import ConfigError

    if not yes:
        raise ConfigError(
            f"deleting channel {name!r} removes every package in it",
            hint=f"Run again with --yes: stockyard channel delete {name} --yes",
        )
    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        delete_channel(settings, catalog, name)
    finally:
        catalog.close()
    stdout.print(f"deleted channel {name}", highlight=False)


@channel_app.command("cache")
def channel_cache(
    name: str = typer.Argument(..., help="The channel."),
    max_age: int = typer.Option(
        None,
        "--max-age",
        min=0,
        max=31_536_000,
        help="Seconds clients may reuse its repodata, shard index and channeldata without "
        "asking (0: revalidate every time, a cheap 304 when nothing changed).",
    ),
    default: bool = typer.Option(False, "--default", help="Use the server's setting again."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """Set how long clients cache the channel's repodata (the freshness of new uploads)."""
    from stockyard.server.channels import open_catalog, set_repodata_max_age
    from stockyard.types.errors import ConfigError

    if (max_age is None) == (not default):
        raise ConfigError("give --max-age SECONDS or --default", hint="For example: --max-age 30")
    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        set_repodata_max_age(catalog, name, None if default else max_age)
    finally:
        catalog.close()
    value = f"{settings.repodata_max_age} s (the server's)" if default else f"{max_age} s"
    stdout.print(f"channel {name}: repodata max-age {value}", highlight=False)


@channel_app.command("visibility")
def channel_visibility(
    name: str = typer.Argument(..., help="The channel."),
    private: bool = typer.Option(
        ..., "--private/--public", help="Private: 404 for anyone without a read token."
    ),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """Make a channel private or public (a running server follows within a second)."""
    from stockyard.server.channels import open_catalog, set_channel_visibility

    settings = load_cli_settings(config, data)
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
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List every channel (private ones included: this is the operator's view)."""
    from stockyard.server.channels import open_catalog, server_url

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        rows: list[_ChannelRow] = []
        for channel in catalog.list_channels():
            stats = catalog.channel_stats(channel.id)
            rows.append(
                {
                    "name": channel.name,
                    "private": channel.private,
                    "url": f"{server_url(settings)}/{channel.name}",
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


@channel_app.command("set-proxy")
def channel_set_proxy(
    name: str = typer.Argument(..., help="The proxy channel."),
    proxy: list[str] = typer.Option(
        None, "--proxy", help="The new upstream URLs (repeatable, failover order; replaces all)."
    ),
    proxy_ttl: int = typer.Option(None, "--proxy-ttl", min=0, help="Seconds repodata is cached."),
    proxy_timeout: float = typer.Option(
        None, "--proxy-timeout", help="Seconds an upstream may take before the next one is asked."
    ),
    max_cache_bytes: str = typer.Option(None, "--max-cache-bytes", help=_MAX_BYTES_HELP),
    max_cache_age: str = typer.Option(None, "--max-cache-age", help=_MAX_AGE_HELP),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the settings as JSON."),
) -> None:
    """Change a proxy channel's upstreams, TTL, timeout or cache bounds (the options given;
    checked as at creation). A running server follows within a second; the cache stays."""
    from stockyard.proxy.manage import ProxyChanges, change_proxy, proxy_settings_dict
    from stockyard.server.channels import layout_for, open_catalog

    changes = ProxyChanges(
        upstreams=tuple(proxy) if proxy else None, ttl=proxy_ttl, timeout=proxy_timeout,
        max_cache_bytes=_bytes(max_cache_bytes), max_cache_age=_seconds(max_cache_age),
    )  # fmt: skip
    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        policy = change_proxy(catalog, name, changes)
    finally:
        catalog.close()
    shown = proxy_settings_dict(name, policy, layout_for(settings).state_dir(name))
    if as_json:
        print_json(shown)
        return
    stdout.print(
        f"proxy channel {name}: upstreams {', '.join(shown['upstreams'])}; ttl {policy.ttl} s, "
        f"timeout {policy.timeout:g} s, cache bound {policy.max_cache_bytes or 'none'} bytes, "
        f"max age {policy.max_cache_age or 'none'} s",
        highlight=False,
        markup=False,
    )


@channel_app.command("proxy-prune")
def channel_proxy_prune(
    name: str = typer.Argument(..., help="The proxy channel."),
    max_cache_bytes: str = typer.Option(
        None, "--max-cache-bytes", help="Prune to this bound instead of the channel's."
    ),
    max_cache_age: str = typer.Option(
        None, "--max-cache-age", help="Prune by this age instead of the channel's."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go; delete nothing."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Prune a proxy channel's cache now: crash leftovers, shards no index names, and the
    artifacts beyond its bounds (least recently served first). Documents are kept; a pruned
    artifact is fetched again on its next request."""
    from stockyard.proxy.manage import proxy_of, prune_proxy
    from stockyard.server.channels import layout_for, open_catalog

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        _channel, policy = proxy_of(catalog, name)
    finally:
        catalog.close()
    report = prune_proxy(
        layout_for(settings).state_dir(name),
        policy,
        max_bytes=_bytes(max_cache_bytes),
        max_age=_seconds(max_cache_age),
        dry_run=dry_run,
    )
    if as_json:
        print_json(report.to_dict())
        return
    shown = report.to_dict()
    verb = "would remove" if dry_run else "removed"
    stdout.print(
        f"proxy channel {name}: {verb} {shown['removed_count']} files "
        f"({shown['freed_bytes']} bytes); the cache holds {shown['files']} files, "
        f"{shown['bytes']} bytes ({shown['artifacts']} artifacts)",
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    from stockyard.cli import history_cmd, label_cmd, license_cmd

    label_cmd.register_channel(channel_app)
    history_cmd.register_channel(channel_app)
    license_cmd.register_channel(channel_app)
    app.add_typer(channel_app, name="channel")
