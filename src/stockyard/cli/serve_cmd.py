"""`stockyard serve`: start the channel server on a data directory (see `cli/data_dir.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import stderr, stdout

if TYPE_CHECKING:
    from stockyard.config import Settings
    from stockyard.server.channels import BootstrapResult


def serve(
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    host: str = typer.Option(None, "--host", help="Address to listen on. Default: 127.0.0.1."),
    port: int = typer.Option(None, "--port", "-p", help="Port to listen on. Default: 8000."),
    workers: int = typer.Option(None, "--workers", "-w", help="Worker processes. Default: 1."),
    public_url: str = typer.Option(
        None, "--public-url", help="The URL clients use (behind a proxy), for printed commands."
    ),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    no_reindex: bool = typer.Option(
        False, "--no-reindex", help="Do not rescan the channel directories at start."
    ),
    tls_cert: Path = typer.Option(
        None, "--tls-cert", help="PEM certificate chain: serve HTTPS (needs --tls-key)."
    ),
    tls_key: Path = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    http2: bool = typer.Option(
        False,
        "--http2",
        help="Serve HTTP/2 as well as HTTP/1.1 (on Granian: pip install 'stockyard[http2]').",
    ),
) -> None:
    """Serve conda channels over HTTP: the channel protocol, uploads, the JSON API.

    The first start creates the data directory, the public channel `main` and an admin token,
    and prints the commands to install from and upload to the server.
    """
    import logging.config

    from stockyard.server.channels import bootstrap
    from stockyard.server.engines import run_server
    from stockyard.server.listen import check_port_free
    from stockyard.server.observability import logging_config, prepare_multiprocess_metrics

    settings = load_cli_settings(
        config,
        data,
        host=host,
        port=port,
        workers=workers,
        public_url=public_url,
        tls_cert=str(tls_cert) if tls_cert else None,
        tls_key=str(tls_key) if tls_key else None,
        http2=True if http2 else None,
    )
    check_port_free(settings.host, settings.port)  # before anything is created or printed
    result = bootstrap(settings, reindex=not no_reindex)
    prepare_multiprocess_metrics(settings)  # --workers N: /metrics of each sums all of them
    _print_banner(settings, result)
    log_config = logging_config(settings.log_format, settings.log_level)
    logging.config.dictConfig(log_config)
    run_server(settings, log_config)


def _print_banner(settings: Settings, result: BootstrapResult) -> None:
    from stockyard.server.client_commands import channel_url, install_commands, upload_commands

    base = settings.base_url
    if result.created_data_dir:
        stdout.print(f"created data directory {result.data_dir}", highlight=False)
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
    for name, why in sorted(result.failed_channels.items()):
        stderr.print(
            f"[yellow]warning:[/] channel {name} could not be published at start ({why}); "
            "it is served as last published and listed in /health/ready",
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


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
