"""`stockyard package remove|yank|unyank|copy`: change the packages of a served channel.

They work on the server's data directory (like `stockyard channel ...`), through the same
functions as the JSON API, so a running server sees the result at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stdout
from stockyard.types.errors import InvalidIdentifier

if TYPE_CHECKING:
    from stockyard.catalog import Catalog
    from stockyard.config import Settings
    from stockyard.index.manage import ChannelHandle, PackageChange

PATH_HELP = "SUBDIR/FILENAME of the artifact, e.g. linux-64/numpy-2.0-py312_0.conda."


def split_artifact_path(path: str) -> tuple[str, str]:
    subdir, _, filename = path.partition("/")
    if not subdir or not filename or "/" in filename:
        raise InvalidIdentifier(
            f"{path!r} is not SUBDIR/FILENAME", hint="For example: noarch/pkg-1.0-0.conda"
        )
    return subdir, filename


def _run(
    config: Path | None,
    data: Path | None,
    action: Callable[[Settings, Catalog], PackageChange],
    as_json: bool,
) -> None:
    from stockyard.server.channels import open_catalog

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        change = action(settings, catalog)
    finally:
        catalog.close()
    if as_json:
        print_json(
            {
                "channel": change.channel,
                "subdir": change.subdir,
                "filename": change.filename,
                "action": change.action,
            }
        )
    else:
        stdout.print(
            f"{change.action} {change.subdir}/{change.filename} in {change.channel}",
            highlight=False,
        )


#: (catalog, channel handle, subdir, filename, lock timeout) -> what it did
_Operation = Callable[["Catalog", "ChannelHandle", str, str, float], "PackageChange"]


def _one_channel_command(operation: Callable[[], _Operation], doc: str) -> Callable[..., None]:
    """A command that changes one artifact of one channel (`operation` is imported lazily)."""

    def command(
        channel: str = typer.Argument(..., help="The channel."),
        path: str = typer.Argument(..., help=PATH_HELP),
        data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
        config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        from stockyard.server.channels import channel_handle

        subdir, filename = split_artifact_path(path)
        act = operation()
        _run(
            config,
            data,
            lambda s, c: act(c, channel_handle(s, c, channel), subdir, filename, s.lock_timeout),
            as_json,
        )

    command.__doc__ = doc
    return command


def _remove() -> _Operation:
    from stockyard.index.manage import remove_package

    return lambda c, h, subdir, name, t: remove_package(c, h, subdir, name, lock_timeout=t)


def _yank(yanked: bool) -> Callable[[], _Operation]:
    def operation() -> _Operation:
        from stockyard.index.manage import set_yanked

        return lambda c, h, subdir, name, t: set_yanked(c, h, subdir, name, yanked, lock_timeout=t)

    return operation


def copy(
    channel: str = typer.Argument(..., help="The source channel."),
    path: str = typer.Argument(..., help=PATH_HELP),
    to: str = typer.Option(..., "--to", help="The target channel."),
    move: bool = typer.Option(False, "--move", help="Remove it from the source afterwards."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Copy (or --move) an artifact to another channel: same bytes and indexed_timestamp."""
    from stockyard.index.manage import copy_package
    from stockyard.server.channels import channel_handle

    subdir, filename = split_artifact_path(path)
    _run(
        config,
        data,
        lambda s, c: copy_package(
            c,
            channel_handle(s, c, channel),
            channel_handle(s, c, to),
            subdir,
            filename,
            move=move,
            lock_timeout=s.lock_timeout,
        ),
        as_json,
    )


def register(app: typer.Typer) -> None:
    """Adds to the `package` group made by `package_cmd`."""
    app.command("remove")(
        _one_channel_command(
            _remove,
            "Remove an artifact from a served channel (its filename is listed in `removed`).",
        )
    )
    app.command("yank")(
        _one_channel_command(
            _yank(True),
            "Yank an artifact: it stays listed but is revoked, so solvers never choose it.",
        )
    )
    app.command("unyank")(_one_channel_command(_yank(False), "Undo a yank."))
    app.command("copy")(copy)
    from stockyard.cli.label_cmd import register_package

    register_package(app)
