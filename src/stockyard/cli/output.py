"""Printing helpers shared by the commands. Only the CLI prints.

`stdout` and `stderr` are Rich consoles made on first use (PEP 562 module `__getattr__`): Rich
costs a tenth of a second to import, and `stockyard index --json`, the command run after every
change to a channel, prints only JSON. Modules that print with them import them by name as
usual; the hot paths (`index_cmd`, `main`) look them up when they print.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from stockyard.types.encoding import encode_json

if TYPE_CHECKING:
    from rich.console import Console

    stdout: Console
    stderr: Console

_consoles: dict[str, Console] = {}


def __getattr__(name: str) -> Console:
    if name not in ("stdout", "stderr"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _consoles:
        from rich.console import Console

        _consoles[name] = Console(stderr=name == "stderr", soft_wrap=True)
    return _consoles[name]


def escape(text: str) -> str:
    """`text` with Rich markup escaped, to print as it is."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def print_json(obj: Any) -> None:
    """Machine-readable output for `--json`: one JSON document on stdout."""
    sys.stdout.write(encode_json(obj).decode() + "\n")
    sys.stdout.flush()


def print_error(message: str, hint: str = "") -> None:
    # The texts are not markup: a message quoting `[x.]` or a regex must print as it is.
    err = __getattr__("stderr")
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    if hint:
        err.print(f"[dim]hint:[/] {escape(hint)}", highlight=False)
