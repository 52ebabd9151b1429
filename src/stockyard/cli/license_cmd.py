"""`stockyard channel license`: which licenses a served channel accepts on upload (the same
SPDX rules as `stockyard mirror --license-allow/--license-deny/--license-unknown`)."""

from __future__ import annotations

from pathlib import Path

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json


def license_rules(
    channel: str = typer.Argument(..., help="The channel."),
    allow: list[str] = typer.Option(
        [], "--allow", metavar="SPDX", help="An accepted license id or glob (repeatable)."
    ),
    deny: list[str] = typer.Option(
        [], "--deny", metavar="SPDX", help="A refused license id or glob, e.g. 'GPL-3.0*'."
    ),
    unknown: str = typer.Option(
        None, "--unknown", help="allow | deny: license strings that are not SPDX expressions."
    ),
    clear: bool = typer.Option(False, "--clear", help="Accept any license again."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """Show or set the licenses a channel accepts: uploads whose `license` the rules refuse get
    400 LicenseRefused. `A OR B` needs one acceptable side, `A AND B` both."""
    import msgspec

    from stockyard.mirror.license_policy import LicensePolicy
    from stockyard.server.channels import open_catalog
    from stockyard.types.policy import LicenseRules

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        found = catalog.require_channel(channel)
        stored = catalog.channel_policy(found.id)
        if clear or allow or deny or unknown:
            rules = None
            if not clear:
                # Checked as the mirror checks them: an id SPDX does not know is an error.
                LicensePolicy.build(allow, deny, unknown or "allow")
                rules = LicenseRules(tuple(allow), tuple(deny), unknown or "allow")  # type: ignore[arg-type]
            catalog.set_channel_policy(found.id, msgspec.structs.replace(stored, license=rules))
        shown = catalog.channel_policy(found.id).license
    finally:
        catalog.close()
    print_json(msgspec.to_builtins(shown) if shown else None)


def register_channel(app: typer.Typer) -> None:
    app.command("license")(license_rules)
