"""A channel's scan policy and the upload decision.

`mode` "off" ignores findings, "flag" records and shows them, "refuse" also refuses an upload
carrying a finding at or above `threshold` (advisories the operator accepted, by id or alias,
in `accept`). Findings of unknown severity refuse only with `refuse_unknown`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from stockyard.scan.model import Finding, Severity, severity_rank
from stockyard.types.errors import StockyardError
from stockyard.types.policy import ScanPolicy as ScanPolicy

PolicyMode = Literal["off", "flag", "refuse"]


class VulnerableUpload(StockyardError):
    """An upload refused by the channel's scan policy."""

    default_hint = (
        "Rebuild with fixed versions of the listed components, or ask the channel's operator "
        "to accept the advisories (scan policy 'accept') or to only flag them."
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    findings: tuple[Finding, ...]
    threshold: Severity

    @property
    def message(self) -> str:
        shown = ", ".join(
            f"{f.advisory_id} ({f.severity}) in {f.purl}"
            + (f", fixed in {'/'.join(f.fixed)}" if f.fixed else "")
            for f in self.findings[:5]
        )
        more = f" and {len(self.findings) - 5} more" if len(self.findings) > 5 else ""
        return (
            f"refused by the channel's scan policy: {len(self.findings)} known "
            f"vulnerabilit{'y' if len(self.findings) == 1 else 'ies'} at or above "
            f"{self.threshold}: {shown}{more}"
        )

    def to_error(self) -> VulnerableUpload:
        return VulnerableUpload(self.message)


def _blocks(finding: Finding, policy: ScanPolicy) -> bool:
    if {finding.advisory_id, *finding.aliases} & set(policy.accept):
        return False
    if finding.severity == "unknown":
        return policy.refuse_unknown
    return severity_rank(finding.severity) >= severity_rank(policy.threshold)


def check_upload(findings: Sequence[Finding], policy: ScanPolicy) -> Refusal | None:
    """The refusal of an upload with `findings` under `policy`, or None to let it in."""
    if policy.mode != "refuse":
        return None
    blocking = tuple(f for f in findings if _blocks(f, policy))
    return Refusal(blocking, policy.threshold) if blocking else None
