"""`stockyard validate PATH...`: check files against the formats in docs/specs/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockyard.cli.output import print_error, print_json, stdout

# The kinds are listed here for the help text; `stockyard.validate.kinds` imports nothing heavy.
from stockyard.validate.kinds import KINDS

if TYPE_CHECKING:
    from stockyard.validate.report import ValidationReport

_KINDS_HELP = "\n\n".join(f"{name}: {what}" for name, what in KINDS.items())


def register(app: typer.Typer) -> None:
    app.command(
        "validate",
        help=(
            "Validate repodata, shards, channeldata, run_exports, patch instructions, info/ files "
            "and artifacts against their formats (docs/specs/).\n\n"
            "Every problem is printed with its file and JSON pointer. The kind of each file comes "
            "from its name (or, for an oddly named JSON file, its content); --kind overrides it. "
            "Kinds:\n\n"
            f"{_KINDS_HELP}\n\n"
            "Package records are judged like every way into a channel judges them "
            "(docs/specs/repodata.md, Admission): what clients cannot parse is a problem; legacy "
            "shapes a channel still publishes (a boolean noarch, an upper-case version, a "
            "timestamp in seconds...) are warnings.\n\n"
            "Exit code: 0 when every file is valid, 1 when any is invalid or unreadable (or, "
            "with --strict, has warnings)."
        ),
    )(validate)


def validate(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Files to validate."),
    kind: str | None = typer.Option(
        None, "--kind", help=f"Kind of every PATH instead of guessing: {', '.join(KINDS)}."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list of reports."),
    strict: bool = typer.Option(
        False, "--strict", help="Fail (exit 1) on warnings too, as a strict channel does."
    ),
) -> None:
    from stockyard.types.errors import StockyardError
    from stockyard.validate import validate_path

    if kind is not None and kind not in KINDS:
        raise StockyardError(f"unknown --kind {kind!r}", hint=f"Use one of: {', '.join(KINDS)}.")
    reports = []
    failed = False
    for path in paths:
        try:
            report = validate_path(path, kind=kind)
        except StockyardError as exc:
            print_error(exc.message, exc.hint)
            failed = True
            continue
        reports.append(report)
        failed |= not report.valid or (strict and bool(report.warnings))
        if not as_json:
            _print_report(report)
    if as_json:
        print_json(reports)
    if failed:
        raise typer.Exit(1)


def _print_report(report: ValidationReport) -> None:
    from rich.markup import escape

    where = escape(report.path)
    for note in report.notes:
        stdout.print(
            f"[dim]{where}: {_show_pointer(note.pointer)}: note: {escape(note.message)}[/]",
            highlight=False,
        )
    for warning in report.warnings:
        stdout.print(
            f"{where}: [cyan]{_show_pointer(warning.pointer)}[/]: [yellow]warning:[/] "
            f"{escape(warning.message)}",
            highlight=False,
        )
    for problem in report.problems:
        stdout.print(
            f"{where}: [cyan]{_show_pointer(problem.pointer)}[/]: {escape(problem.message)}",
            highlight=False,
        )
    if report.valid:
        counted = f" ({report.records} records)" if report.records else ""
        n = len(report.warnings)
        warned = f", [yellow]{n} warning{'s' if n != 1 else ''}[/]" if n else ""
        stdout.print(
            f"{where}: [green]ok[/]{counted}{warned} [dim]{report.kind}[/]", highlight=False
        )
    else:
        n = len(report.problems)
        stdout.print(
            f"{where}: [bold red]{n} problem{'s' if n != 1 else ''}[/] [dim]{report.kind}[/]",
            highlight=False,
        )


def _show_pointer(pointer: str) -> str:
    from rich.markup import escape

    return escape(pointer) if pointer else "(root)"
