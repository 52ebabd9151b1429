"""Checks on where the server will listen, made before anything is created or printed."""

from __future__ import annotations

import socket

from stockyard.types.errors import ConfigError


def check_port_free(host: str, port: int) -> None:
    """ConfigError when `host:port` cannot be bound (in use, or not an address of this host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: SO_REUSEADDR, so a port in TIME_WAIT is not mistaken for "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="Another process uses that port: stop it, or pass --port with a free port.",
            ) from None
