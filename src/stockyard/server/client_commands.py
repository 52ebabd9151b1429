"""Copy-paste commands for the clients people use with a channel (CLI banner, API, web UI)."""

from __future__ import annotations

TOKEN_PLACEHOLDER = "<TOKEN>"


def channel_url(base_url: str, channel: str, token: str | None = None) -> str:
    """The URL conda, pixi and rattler take with `-c`; `/t/<token>/` for a private channel."""
    base = base_url.rstrip("/")
    return f"{base}/t/{token}/{channel}" if token else f"{base}/{channel}"


def pixi_commands(url: str, spec: str) -> str:
    """`pixi add` has no --channel option: the channel goes into the workspace first."""
    return f"pixi workspace channel add {url}\npixi add {spec}"


def install_commands(
    base_url: str, channel: str, package: str = "PACKAGE", *, private: bool = False
) -> dict[str, str]:
    url = channel_url(base_url, channel, TOKEN_PLACEHOLDER if private else None)
    return {
        "conda": f"conda install -c {url} {package}",
        "mamba": f"mamba install -c {url} {package}",
        "pixi": pixi_commands(url, package),
    }


def upload_commands(base_url: str, channel: str, token: str | None = None) -> dict[str, str]:
    """rattler-build's upload subcommands against this server (same flags as its CLI help)."""
    base = base_url.rstrip("/")
    key = token or TOKEN_PLACEHOLDER
    return {
        "rattler-build (prefix)": (
            f"rattler-build upload prefix --url {base} --channel {channel} --api-key {key} "
            "PACKAGE.conda"
        ),
        "rattler-build (quetz)": (
            f"rattler-build upload quetz --url {base} --channel {channel} --api-key {key} "
            "PACKAGE.conda"
        ),
        "curl": (
            f"curl -X POST -H 'X-API-Key: {key}' --data-binary @PACKAGE.conda "
            f"'{base}/api/channels/{channel}/upload/PACKAGE.conda'"
        ),
    }
