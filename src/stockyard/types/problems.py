"""One thing wrong (or worth knowing) in a document, with an RFC 6901 pointer to it.

Used by the validator (`stockyard validate`) and by admission (`stockyard.types.admission`), so
that a problem reads the same wherever it is found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: "error": the document (or record) is invalid, or cannot be published; "warning": it is
#: accepted and published as it is, but breaks a rule of the strict model; "note": worth knowing.
Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True, slots=True)
class Problem:
    """`pointer` is an RFC 6901 JSON pointer into the document ("" for the root). For an
    artifact it is prefixed with the archive member, e.g. "info/index.json/name"."""

    pointer: str
    message: str
    severity: Severity = "error"

    def to_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}
