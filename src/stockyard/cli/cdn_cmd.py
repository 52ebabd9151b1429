"""`stockyard cdn changed-urls`: what a channel's publishes changed, for scripts that purge a CDN
themselves (docs/deploy-cdn.md). Read from the channel's change ledger
(`.stockyard/cdn/changes.json`, stockyard.cdn.ledger), which every publish appends to.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stderr

if TYPE_CHECKING:
    from stockyard.cdn.ledger import Changes

#: Exit code when publishes after `--since` are no longer (or were never) in the ledger.
INCOMPLETE_EXIT = 3

cdn_app = typer.Typer(
    help="CDN support: the URLs and surrogate keys each publish changed.",
    no_args_is_help=True,
)


@cdn_app.command("changed-urls")
def changed_urls(
    channel: str = typer.Argument(
        ..., help="The channel (a label as CHANNEL/label/LABEL, e.g. main/label/rc)."
    ),
    since: int = typer.Option(
        None,
        "--since",
        metavar="REVISION",
        help="Every publish after this revision (a previous answer's `revision`); default: "
        "only the last publish.",
    ),
    base_url: str = typer.Option(
        None,
        "--base-url",
        help="Public URL of the server (default: the settings' public_url, else the address "
        "the server last recorded).",
    ),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print {channel, revision, since, complete, urls, surrogate_keys, publishes}.",
    ),
) -> None:
    """List the absolute URLs the last publish of CHANNEL changed (or every publish after
    --since REVISION), one per line: published files rewritten or removed, artifacts added,
    replaced or removed. URLs never carry a token. Exit code 3: some publishes after REVISION
    are no longer recorded; purge the whole channel (surrogate key CHANNEL and CHANNEL/files)."""
    from stockyard.cdn.ledger import changes_since, read_ledger
    from stockyard.cdn.urls import purge_list
    from stockyard.server.channels import layout_for, open_catalog, server_url

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        catalog.require_channel(channel)
    finally:
        catalog.close()
    changes = changes_since(read_ledger(layout_for(settings).store(channel)), since)
    purge = purge_list(base_url or server_url(settings), channel, changes.keys, changes.revision)
    if as_json:
        print_json(_as_dict(purge.payload(), changes, since))
    else:
        for url in purge.urls:
            typer.echo(url)
        stderr.print(
            f"{len(purge.urls)} URLs changed by {len(changes.entries)} publish(es); revision "
            f"{changes.revision}",
            highlight=False,
        )
    if not changes.complete:
        stderr.print(
            f"[bold yellow]warning:[/] publishes after revision {since} are not all recorded: "
            f"purge the whole channel (surrogate keys {channel} and {channel}/files)",
            highlight=False,
        )
        raise typer.Exit(INCOMPLETE_EXIT)


def _as_dict(payload: dict[str, Any], changes: Changes, since: int | None) -> dict[str, Any]:
    publishes = [
        {"revision": e.revision, "published_at": e.published_at, "files": len(e.keys)}
        for e in changes.entries
    ]
    return {**payload, "since": since, "complete": changes.complete, "publishes": publishes}


def register(app: typer.Typer) -> None:
    app.add_typer(cdn_app, name="cdn")
