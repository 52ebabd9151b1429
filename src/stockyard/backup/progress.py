"""What a backup or restore reports while it runs (the CLI draws Rich progress bars from it)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, name: str, total: int | None) -> None:
        """A new phase starts (`total` units, None when unknown); the previous one is done."""

    def advance(self, amount: int = 1) -> None:
        """`amount` more units of the current phase are done."""


class NoProgress:
    def phase(self, name: str, total: int | None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


NO_PROGRESS = NoProgress()
