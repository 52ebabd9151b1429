"""R package DESCRIPTION files (Debian control format, as R writes and reads them).

`Field: value` lines; a line starting with whitespace continues the previous field. The file's
bytes are decoded with its own `Encoding:` field (latin1 and UTF-8 are what CRAN sees), falling
back to latin-1 (which never fails) with a note when UTF-8 does not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stockyard.recipes.errors import UpstreamError

_FIELD = re.compile(r"^([A-Za-z0-9@/._-]+):\s*(.*)$")
_ENCODING = re.compile(rb"^Encoding:\s*(\S+)", re.MULTILINE)
_DEPENDENCY = re.compile(r"^([A-Za-z][A-Za-z0-9.]*)\s*(?:\(\s*([<>=!]+)\s*([^)\s]+)\s*\))?$")

#: Packages that ship with R itself (r-base): never separate conda packages.
BASE_R = frozenset(
    {"R", "base", "compiler", "datasets", "graphics", "grDevices", "grid", "methods"}
    | {"parallel", "splines", "stats", "stats4", "tcltk", "tools", "utils"}
)


@dataclass
class Description:
    fields: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)


def _decode(data: bytes, notes: list[str]) -> str:
    declared = _ENCODING.search(data)
    encoding = declared.group(1).decode("ascii", "replace").lower() if declared else "utf-8"
    encoding = {"latin1": "latin-1", "latin-1": "latin-1", "utf8": "utf-8"}.get(encoding, encoding)
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        notes.append(f"DESCRIPTION is not valid {encoding}: read as latin-1")
        return data.decode("latin-1")


def parse_description(data: bytes, origin: str = "DESCRIPTION") -> Description:
    notes: list[str] = []
    text = _decode(data, notes).replace("\r\n", "\n")
    fields: dict[str, str] = {}
    current: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if line[0] in " \t":
            if current is None:
                raise UpstreamError(f"{origin}:{number}: continuation line before any field")
            fields[current] += "\n" + line.strip()
            continue
        match = _FIELD.match(line)
        if match is None:
            raise UpstreamError(f"{origin}:{number}: not a 'Field: value' line: {line[:60]!r}")
        current = match.group(1)
        fields[current] = match.group(2).strip()
    for required in ("Package", "Version"):
        if not fields.get(required):
            raise UpstreamError(f"{origin} has no {required} field")
    return Description(fields, notes)


@dataclass(frozen=True)
class RDependency:
    name: str
    operator: str | None = None
    version: str | None = None


def dependencies(value: str, notes: list[str]) -> list[RDependency]:
    """`R (>= 3.5), methods, Rcpp (>= 1.0)` -> dependencies, in order."""
    found = []
    for part in " ".join(value.split()).split(","):
        part = part.strip()
        if not part:
            continue
        match = _DEPENDENCY.match(part)
        if match is None:
            notes.append(f"dependency {part!r} not understood; left out")
            continue
        found.append(RDependency(match.group(1), match.group(2), match.group(3)))
    return found
