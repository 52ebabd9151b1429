"""Validate a `.conda` / `.tar.bz2` artifact: its structure (via `stockyard.package`) and the
`info/` documents it carries, each checked like the standalone kinds.

Pointers are prefixed with the archive member: `info/index.json/build_number`.
"""

from __future__ import annotations

import re
from pathlib import Path

from stockyard.types.errors import InvalidArtifact, NotFound, StockyardError
from stockyard.types.typecheck import pointer_from_error
from stockyard.validate.documents import check_document
from stockyard.validate.report import Problem, ValidationReport, as_notes, pointer_order

#: ArtifactMetadata attribute -> (archive member, document kind).
_MEMBERS: dict[str, tuple[str, str]] = {
    "index_json": ("info/index.json", "index_json"),
    "about": ("info/about.json", "about_json"),
    "link": ("info/link.json", "link_json"),
    "run_exports": ("info/run_exports.json", "run_exports_json"),
}
# `stockyard.package` reports a bad member as "<member> is invalid: <msgspec message>" or
# "<member> is not valid JSON (<msgspec message>)".
_INVALID_MEMBER = re.compile(
    r"^(?P<member>info/\S+) "
    r"(is invalid: (?P<error>.*)|is not (?P<what>valid JSON) \((?P<json>.*)\))$",
    re.DOTALL,
)


def validate_artifact(path: Path) -> ValidationReport:
    from stockyard.package.read import read_artifact

    if not path.exists():
        raise NotFound(f"{path} does not exist")
    if path.is_dir():
        raise StockyardError(f"{path} is a directory", hint="Pass the artifact files themselves.")
    problems: list[Problem] = []
    notes: list[Problem] = []
    warnings: list[Problem] = []
    try:
        metadata = read_artifact(path)
    except InvalidArtifact as exc:
        problems.append(_problem_from_reason(exc.reason))
    else:
        for attribute, (member, kind) in _MEMBERS.items():
            document = getattr(metadata, attribute)
            if document is None:
                continue
            found = check_document(document, kind)
            problems += [_under(member, p) for p in found.problems]
            notes += [_under(member, p) for p in found.notes]
            warnings += [_under(member, p) for p in found.warnings]
    for problem in _verify(path):
        if problem not in problems:  # verify_artifact repeats read_artifact's reason
            problems.append(problem)
    problems.sort(key=pointer_order)
    return ValidationReport(
        str(path), "artifact", not problems, problems, 1, as_notes(notes), warnings
    )


def _verify(path: Path) -> list[Problem]:
    """The payload: every member decompresses and matches info/paths.json."""
    from stockyard.package.verify import verify_artifact

    try:
        report = verify_artifact(path)
    except InvalidArtifact as exc:
        return [_problem_from_reason(exc.reason)]
    return [_problem_from_reason(reason) for reason in report.problems]


def _under(member: str, problem: Problem) -> Problem:
    return Problem(f"{member}{problem.pointer}", problem.message, problem.severity)


def _problem_from_reason(reason: str) -> Problem:
    """A Problem from the package layer's message, pointing into the member it names."""
    match = _INVALID_MEMBER.fullmatch(reason)
    if match is None:
        return Problem("", reason)
    suffix, message = pointer_from_error(match.group("error") or match.group("json"))
    if match.group("what") and not suffix:
        message = f"not valid JSON: {message}"
    return Problem(match.group("member") + suffix, message)
