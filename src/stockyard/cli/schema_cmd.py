"""`stockyard schema ...`: JSON Schemas generated from the data model."""

from __future__ import annotations

from pathlib import Path

import typer

from stockyard.cli.output import stdout

app = typer.Typer(
    help="JSON Schemas of every format Stockyard reads or writes.", no_args_is_help=True
)


@app.command("export")
def export(
    directory: Path = typer.Argument(..., help="Directory to write the *.schema.json files into."),
) -> None:
    """Write the JSON Schemas (generated from the data model) into DIRECTORY."""
    from stockyard.types.schemas import export_schemas

    for path in export_schemas(directory):
        stdout.print(f"wrote {path}", highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="schema")
