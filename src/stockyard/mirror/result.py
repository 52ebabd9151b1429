"""The summary of a mirror run: what the CLI prints, and `--json`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stockyard.mirror.plan import MirrorPlan
    from stockyard.mirror.publish import PublishOutcome
    from stockyard.mirror.selection import Selection
    from stockyard.mirror.upstream import UpstreamSubdir


@dataclass(frozen=True, slots=True)
class Explanation:
    key: str
    included: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.key, "included": self.included, "reason": self.reason}


@dataclass(slots=True)
class MirrorResult:
    upstream: str
    target: str
    dry_run: bool = False
    #: subdir -> how upstream's records were read and how many there were.
    subdirs: dict[str, dict[str, Any]] = field(default_factory=dict)
    selected: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    #: Bytes the plan downloads, and bytes that were downloaded (or found verified) this run.
    bytes: int = 0
    downloaded_bytes: int = 0
    #: (artifact, reason): upstream records that cannot be mirrored, downloads admission refused.
    refused: list[tuple[str, str]] = field(default_factory=list)
    unsatisfied: list[dict[str, str]] = field(default_factory=list)
    patched_records: int = 0
    unfaithful: list[str] = field(default_factory=list)
    subdirs_published: list[str] = field(default_factory=list)
    files_written: int = 0
    explain: list[Explanation] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: Upstream and target were as the last run left them: nothing was read, planned or
    #: published, and the counts are the last run's (`stockyard.mirror.last_run`).
    up_to_date: bool = False

    @classmethod
    def up_to_date_from(cls, upstream: str, target: str, summary: dict[str, Any]) -> MirrorResult:
        """The result of a run that found nothing changed since the run that wrote `summary`
        (`last_summary`): everything it holds is unchanged."""
        from stockyard.mirror.fetch import redact

        return cls(
            upstream=redact(upstream),
            target=target,
            up_to_date=True,
            subdirs={
                name: {**info, "not_modified": True}
                for name, info in summary.get("subdirs", {}).items()
            },
            selected=summary.get("selected", 0),
            unchanged=summary.get("held", 0),
            refused=[(str(a), str(r)) for a, r in summary.get("refused", [])],
            unsatisfied=summary.get("unsatisfied", []),
            patched_records=summary.get("patched_records", 0),
            unfaithful=summary.get("unfaithful", []),
        )

    def last_summary(self) -> dict[str, Any]:
        """What a later run that finds nothing changed reports again (`up_to_date_from`)."""
        return {
            "subdirs": {
                name: {k: v for k, v in info.items() if k != "not_modified"}
                for name, info in self.subdirs.items()
            },
            "selected": self.selected,
            "held": self.unchanged + self.added,
            "refused": [list(item) for item in self.refused],
            "unsatisfied": self.unsatisfied,
            "patched_records": self.patched_records,
            "unfaithful": self.unfaithful,
            # what the run that wrote it changed (the channel's mirror status shows it)
            "changes": {
                "added": self.added,
                "changed": self.changed,
                "removed": self.removed,
                "bytes": self.bytes,
                "downloaded_bytes": self.downloaded_bytes,
            },
        }

    def note_upstream(self, subdirs: list[UpstreamSubdir]) -> None:
        for item in subdirs:
            self.subdirs[item.subdir] = {
                "source": item.source,
                "records": len(item.records.records),
                "not_modified": item.unchanged,
            }
            self.refused.extend((f"{item.subdir}/{f}", r) for f, r in item.records.refused)

    def note_selection(self, selection: Selection, explain: str | None) -> None:
        self.selected = len(selection.chosen)
        self.unsatisfied = [u.to_dict() for u in selection.unsatisfied]
        if explain is not None:
            self.explain = [Explanation(*found) for found in selection.explain(explain)]

    def note_plan(self, plan: MirrorPlan) -> None:
        self.added, self.changed = len(plan.added), plan.changed
        self.removed, self.unchanged = plan.removed_count, plan.unchanged
        self.bytes = plan.bytes
        self.plan = plan.to_dict()

    def note_publish(self, outcome: PublishOutcome) -> None:
        self.refused.extend(outcome.refused)
        self.added -= len(outcome.refused)
        self.patched_records = outcome.patched_records
        self.unfaithful = outcome.unfaithful
        self.subdirs_published = outcome.subdirs_published
        self.files_written = outcome.files_written

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "upstream": self.upstream,
            "target": self.target,
            "dry_run": self.dry_run,
            "subdirs": self.subdirs,
            "selected": self.selected,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "bytes": self.bytes,
            "downloaded_bytes": self.downloaded_bytes,
            "refused": [{"artifact": a, "reason": r} for a, r in self.refused],
            "unsatisfied": self.unsatisfied,
            "patched_records": self.patched_records,
            "unfaithful": self.unfaithful,
            "subdirs_published": self.subdirs_published,
            "files_written": self.files_written,
            "seconds": round(self.seconds, 4),
            "up_to_date": self.up_to_date,
        }
        if self.dry_run:
            out["plan"] = self.plan
        if self.explain:
            out["explain"] = [e.to_dict() for e in self.explain]
        return out
