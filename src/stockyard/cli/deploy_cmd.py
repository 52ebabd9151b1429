"""`stockyard deploy nginx|systemd`: print (or write) the nginx front and the systemd unit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockyard.cli.output import stderr

if TYPE_CHECKING:
    from stockyard.config import Settings

deploy_app = typer.Typer(
    help="Render deployment files: the nginx front and the systemd unit.", no_args_is_help=True
)

_DATA_HELP = "The server's data directory. Default: ./stockyard-data."
_CONFIG_HELP = "The server's settings file (TOML). Default: $STOCKYARD_CONFIG."


def _settings(config: Path | None, data: Path | None) -> Settings:
    from stockyard.config import load_settings

    return load_settings(config, overrides={"data_dir": str(data) if data is not None else None})


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    import os
    import tempfile

    output = output.absolute()
    # Written whole and renamed, so a reload never reads a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    stderr.print(f"wrote {output}", highlight=False)


@deploy_app.command("nginx")
def nginx(
    data: Path = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    listen: str = typer.Option(
        "8080", "--listen", help="nginx listen: port or address:port, e.g. '443 ssl http2'."
    ),
    app_url: str = typer.Option(
        None, "--app", help="Where stockyard serve listens. Default: its host and port settings."
    ),
    server_name: str = typer.Option("_", "--server-name", help="nginx server_name."),
    ssl_certificate: Path = typer.Option(None, "--ssl-certificate", help="TLS certificate file."),
    ssl_certificate_key: Path = typer.Option(
        None, "--ssl-certificate-key", help="TLS private key file."
    ),
    standalone: Path = typer.Option(
        None,
        "--standalone",
        help="Render a complete nginx.conf keeping pid, logs and temp files in this directory "
        "(run: nginx -p DIR -c DIR/nginx.conf).",
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file (atomically)."),
) -> None:
    """The nginx front: public channels served from disk, everything else proxied to the app.

    Regenerate it (and reload nginx) after creating a channel or changing its privacy.
    """
    from stockyard.deploy.nginx import nginx_front_for, render_nginx, render_nginx_main

    settings = _settings(config, data)
    front = nginx_front_for(
        settings,
        listen=listen,
        app=app_url,
        server_name=server_name,
        ssl_certificate=ssl_certificate,
        ssl_certificate_key=ssl_certificate_key,
    )
    if settings.accel_redirect is None:
        stderr.print(
            "note: accel_redirect is not set, so the app sends private-channel files itself; "
            'set accel_redirect = "/_stockyard_files/" to let nginx send them too.',
            highlight=False,
        )
    if standalone is not None:
        text = render_nginx_main(front, prefix=standalone)
    else:
        text = render_nginx(front)
    _emit(text, output)


@deploy_app.command("systemd")
def systemd(
    data: Path = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    user: str = typer.Option("stockyard", "--user", help="The user the server runs as."),
    group: str = typer.Option(None, "--group", help="Its group. Default: the user's."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file (atomically)."),
) -> None:
    """A systemd unit running `stockyard serve` (restart on failure, sandboxed)."""
    from stockyard.deploy.systemd import render_systemd_unit, systemd_unit_for

    unit = systemd_unit_for(_settings(config, data), config=config, user=user, group=group)
    _emit(render_systemd_unit(unit), output)


def register(app: typer.Typer) -> None:
    app.add_typer(deploy_app, name="deploy")
