"""`stockyard package label` and `stockyard channel labels`: the labels of a served channel.

A label is served at `<channel URL>/label/<label>/` (conda, mamba, pixi and rattler install
from it as from any channel); `main` is the channel root. These work on the server's data
directory, through the same functions as the JSON API.
"""

from __future__ import annotations

from pathlib import Path

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stdout
from stockyard.cli.package_ops_cmd import PATH_HELP, split_artifact_path


def label(
    channel: str = typer.Argument(..., help="The channel."),
    path: str = typer.Argument(..., help=PATH_HELP),
    add: list[str] = typer.Option(
        [], "--add", "-a", metavar="LABEL", help="A label to give it (repeatable)."
    ),
    remove: list[str] = typer.Option(
        [],
        "--remove",
        "-r",
        metavar="LABEL",
        help="A label to take away (repeatable; main is the root).",
    ),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Show or change an artifact's labels: `--add broken --remove main` moves it to
    `<channel>/label/broken` (gone from the root, listed in its `removed`)."""
    from stockyard.labels import labels_of, relabel
    from stockyard.server.channels import ServedChannels, open_catalog

    subdir, filename = split_artifact_path(path)
    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        if add or remove:
            change = relabel(
                catalog,
                ServedChannels(settings, catalog),
                channel,
                subdir,
                filename,
                add=add,
                remove=remove,
                lock_timeout=settings.lock_timeout,
            ).to_dict()
        else:
            catalog.require_channel(channel)
            change = {"channel": channel, "subdir": subdir, "filename": filename}
            change["labels"] = labels_of(catalog, channel, subdir, filename)
    finally:
        catalog.close()
    if as_json:
        print_json(change)
        return
    labels = ", ".join(change["labels"]) or "none"  # type: ignore[arg-type]
    stdout.print(f"{subdir}/{filename} in {channel}: {labels}", highlight=False)


def labels(
    channel: str = typer.Argument(..., help="The channel."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a channel's labels with their URLs and package counts."""
    from stockyard.labels import channel_labels
    from stockyard.server.channels import open_catalog, server_url
    from stockyard.types.labels import label_channel_name

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        rows = []
        for name in channel_labels(catalog, channel):
            full = label_channel_name(channel, name)
            stats = catalog.channel_stats(catalog.require_channel(full).id)
            url = f"{server_url(settings)}/{full}"
            rows.append({"label": name, "url": url, "artifacts": stats.artifact_count})
    finally:
        catalog.close()
    if as_json:
        print_json(rows)
        return
    for row in rows:
        stdout.print(f"{row['label']:<20} {row['artifacts']:>7}  {row['url']}", highlight=False)


def register_package(app: typer.Typer) -> None:
    app.command("label")(label)


def register_channel(app: typer.Typer) -> None:
    app.command("labels")(labels)
