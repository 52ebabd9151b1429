"""What a verification found: one problem per file (and record), said plainly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Problems listed per file before the rest are only counted (a forged file has many).
MAX_PROBLEMS_PER_FILE = 50


@dataclass(slots=True)
class Problem:
    file: str
    reason: str
    record: str | None = None

    def __str__(self) -> str:
        where = f"{self.file} [{self.record}]" if self.record else self.file
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class VerifyReport:
    source: str
    root_version: int = 0
    root_expires: str = ""
    key_mgr_version: int = 0
    key_mgr_expires: str = ""
    pkg_mgr_keys: list[str] = field(default_factory=list)
    #: Records whose signature verified, per subdir.
    verified: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, file: str, reason: str, record: str | None = None) -> None:
        self.problems.append(Problem(file, reason, record))

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data
