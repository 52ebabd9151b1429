"""Printing helpers shared by the commands. Only the CLI prints."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from stockyard.types.encoding import encode_json

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def print_json(obj: Any) -> None:
    """Machine-readable output for `--json`: one JSON document on stdout."""
    sys.stdout.write(encode_json(obj).decode() + "\n")
    sys.stdout.flush()


def print_error(message: str, hint: str = "") -> None:
    # The texts are not markup: a message quoting `[x.]` or a regex must print as it is.
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    if hint:
        stderr.print(f"[dim]hint:[/] {escape(hint)}", highlight=False)
