"""Labels (anaconda.org's, used by conda-forge: `conda-forge/label/broken`, `label/rc`).

A label of channel `c` is served at `/<c>/label/<label>/...` and is stored as a channel of its
own named `c/label/<label>`, whose directory nests under `c`'s (`channels/c/label/<label>/`), so
the channel protocol serves it with no extra route and every way into a channel (uploads, copy,
remove, publish, patches) works on it unchanged. The label `main` is the channel root itself.
A package carries a label when the label's channel holds it (the same bytes: hard links where
the store allows).
"""

from __future__ import annotations

from typing import Final

from stockyard.types.errors import InvalidIdentifier
from stockyard.types.identifiers import check_label

#: The label served at the channel root.
DEFAULT_LABEL: Final = "main"
#: The path segment between a channel and its label, as anaconda.org spells it.
LABEL_SEGMENT: Final = "label"
_INFIX: Final = f"/{LABEL_SEGMENT}/"


def check_served_label(label: object) -> str:
    """A CEP 26 label that is also one safe path segment (no '/', no '..')."""
    checked = check_label(label)
    if "/" in checked or ".." in checked:
        raise InvalidIdentifier(
            f"label {checked!r} has '/' or '..'; the server serves one-segment labels only",
            hint="Use a label such as 'rc', 'broken' or 'gcc-13'.",
        )
    return checked


def label_channel_name(channel: str, label: str) -> str:
    """The catalog name of `channel`'s label (`main` is the channel itself)."""
    if label == DEFAULT_LABEL:
        return channel
    return f"{channel}{_INFIX}{check_served_label(label)}"


def split_label_channel(name: str) -> tuple[str, str]:
    """(channel, label) of a catalog channel name; (name, "main") for a channel root."""
    parent, infix, label = name.partition(_INFIX)
    return (parent, label) if infix else (name, DEFAULT_LABEL)


def is_label_channel(name: str) -> bool:
    return _INFIX in name
