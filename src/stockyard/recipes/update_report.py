"""The pull-request body of an update (Markdown)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockyard.recipes.update import UpdateResult


def pr_body(result: UpdateResult) -> str:
    if result.old_version == result.new_version:
        return f"{result.package} {result.old_version} is the newest release; nothing to do.\n"
    lines = [f"# {result.package} {result.old_version} -> {result.new_version}", ""]
    lines += ["## What changed upstream", ""]
    if not result.upstream:
        lines.append("No requirement changed between the two releases' metadata.")
    for change in result.upstream:
        before, after = change.before or "(none)", change.after or "(removed)"
        where = f"{change.section} [{change.extra}]" if change.extra else change.section
        lines.append(f"- {where}: `{before}` -> `{after}`")
    lines += ["", "## What this changes in the recipe", ""]
    lines += [f"- {edit}" for edit in result.edits]
    lines += ["", "## Needs a human", ""]
    lines += [f"- [ ] {item}" for item in result.needs_human] or ["Nothing."]
    lines += ["", "Requirement changes were computed from upstream metadata of both versions."]
    return "\n".join(lines) + "\n"
