"""Python requirements (PEP 508) to recipe requirement lines.

Each requirement's marker is evaluated (`markers.evaluate`) for the base package or for one
extra; the name is mapped to conda (`names.conda_name`) and the specifier translated
(`specs.translate`). A requirement that lands twice (one per Python range, say) is merged: a
noarch recipe keeps the line that holds for `python_min`, a compiled one keeps both with their
selectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.requirements import Requirement

from stockyard.recipes.markers import MarkerOutcome, evaluate, pythons_from
from stockyard.recipes.model import Dep, Selector
from stockyard.recipes.names import conda_name, normalize
from stockyard.recipes.specs import matchspec, translate


@dataclass
class Converted:
    deps: list[Dep] = field(default_factory=list)
    #: Extras of the package itself this one pulls in (`typer[all]` asks for `all`).
    self_extras: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Line:
    dep: Dep
    outcome: MarkerOutcome


def _applies(requirement: Requirement, python_min: str, extra: str) -> MarkerOutcome | None:
    outcome = evaluate(requirement.marker, python_min, extra)
    if outcome.never:
        return None
    # Only what an extra adds: a line that also holds without the extra is the base's.
    if extra and not evaluate(requirement.marker, python_min, "").never:
        return None
    return outcome


def convert(
    requirements: list[Requirement], package: str, python_min: str, noarch: bool, extra: str = ""
) -> Converted:
    """The recipe lines of the base package (`extra=""`) or of one extra."""
    result = Converted()
    lines: list[_Line] = []
    for requirement in requirements:
        outcome = _applies(requirement, python_min, extra)
        if outcome is None:
            # In an extra's pass, base requirements are skipped too: not "never holds".
            if (
                not extra
                and requirement.marker is not None
                and "extra" not in str(requirement.marker)
            ):
                result.notes.append(f"'{requirement}' left out: its marker never holds")
            continue
        if normalize(requirement.name) == normalize(package):
            result.self_extras += sorted(requirement.extras)
            continue
        lines.append(_Line(_dep(requirement, outcome, noarch, result.notes), outcome))
    result.deps = _merge(lines, python_min, noarch, result.notes)
    return result


def _dep(requirement: Requirement, outcome: MarkerOutcome, noarch: bool, notes: list[str]) -> Dep:
    name = conda_name(requirement.name)
    translation = translate(requirement.specifier)
    notes += [f"{requirement.name}: {note}" for note in translation.notes]
    if requirement.extras:
        notes.append(f"{name} is needed with its extras {sorted(requirement.extras)}")
    if requirement.url:
        notes.append(f"{requirement.name} is a direct URL reference ({requirement.url})")
    python = () if noarch else outcome.python_bounds
    return Dep(matchspec(name, translation.constraint), Selector(outcome.platform_selector, python))


def _merge(lines: list[_Line], python_min: str, noarch: bool, notes: list[str]) -> list[Dep]:
    grouped: dict[tuple[str, str | None], list[_Line]] = {}
    for line in lines:
        grouped.setdefault((line.dep.name, line.dep.selector.platform), []).append(line)
    merged: list[Dep] = []
    oldest = pythons_from(python_min)[0]
    for (name, _), group in grouped.items():
        if len(group) == 1 or not noarch:
            merged += [line.dep for line in group if line.dep not in merged]
            continue
        chosen = next((line for line in group if line.outcome.holds_for(oldest)), group[0])
        merged.append(chosen.dep)
        notes.append(f"{name}: several lines for different Pythons; kept '{chosen.dep.spec}'")
    return merged
