"""Requirement conversion notes: a base requirement is not "left out" when an extra's lines
are computed (found by benchmarks/recipes.py on rich 13.9.4)."""

from __future__ import annotations

from packaging.requirements import Requirement

from stockyard.recipes.deps import convert


def test_no_false_never_holds_note_for_base_requirements_in_an_extra() -> None:
    requirements = [
        Requirement('typing-extensions<5.0,>=4.0.0; python_version < "3.11"'),
        Requirement('ipywidgets>=7.5.1,<9; extra == "jupyter"'),
    ]
    base = convert(requirements, "rich", "3.9", noarch=True)
    extra = convert(requirements, "rich", "3.9", noarch=True, extra="jupyter")
    assert not [note for note in base.notes + extra.notes if "never holds" in note]
    old_python = convert([Requirement('tomli; python_version < "3.8"')], "x", "3.9", noarch=True)
    assert any("never holds" in note for note in old_python.notes)
