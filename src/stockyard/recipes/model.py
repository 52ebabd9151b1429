"""A recipe as data, independent of the file format it is written in.

Generators (`pypi_recipe`, `cran`, `split`) build a `Recipe`; `render_v1` and `render_v0` write
it. Selectors are kept structured (a platform expression and Python bounds) so that each format
spells them its own way: v1 `if: win and match(python, "<3.11")`, v0 `# [win and py<311]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Selector:
    """Where a requirement applies: a platform expression and Python version bounds."""

    platform: str | None = None
    python: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return self.platform is not None or bool(self.python)

    def v1(self) -> str:
        terms = []
        if self.platform:
            terms.append(self.platform if " or " not in self.platform else f"({self.platform})")
        if self.python:
            bounds = ",".join(f"{op}{version}" for op, version in self.python)
            terms.append(f'match(python, "{bounds}")')
        return " and ".join(terms)

    def v0(self) -> str:
        terms = []
        if self.platform:
            terms.append(self.platform)
        for op, version in self.python:
            terms.append(f"py{op}{version.replace('.', '')}")
        return " and ".join(terms)


@dataclass(frozen=True)
class Dep:
    """One requirement line: a MatchSpec (or Jinja expression) and where it applies."""

    spec: str
    selector: Selector = Selector()

    @property
    def name(self) -> str:
        return self.spec.split()[0] if not self.spec.startswith("${{") else self.spec


@dataclass
class Requirements:
    build: list[Dep] = field(default_factory=list)
    host: list[Dep] = field(default_factory=list)
    run: list[Dep] = field(default_factory=list)
    run_constraints: list[Dep] = field(default_factory=list)
    run_exports: list[str] = field(default_factory=list)


@dataclass
class Output:
    """One package a recipe builds."""

    name: str
    requirements: Requirements = field(default_factory=Requirements)
    noarch: str | None = None
    script: str | list[str] | None = None
    entry_points: list[str] = field(default_factory=list)
    files: Any = None
    tests: list[dict[str, Any]] = field(default_factory=list)
    about: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    """A whole recipe: the first output is the main package."""

    name: str
    version: str
    context: dict[str, str]
    source: dict[str, Any]
    outputs: list[Output]
    about: dict[str, Any]
    build_number: int = 0
    #: A CEP 41 staging cache (library splits): its name, requirements and script.
    staging: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: CEP 44 optional dependency groups of the main output (`--extras-as cep44`).
    extra_groups: dict[str, list[str]] = field(default_factory=dict)
    #: For a human, written as comments at the top of the file.
    notes: list[str] = field(default_factory=list)

    @property
    def main(self) -> Output:
        return self.outputs[0]

    @property
    def multi_output(self) -> bool:
        return len(self.outputs) > 1 or self.staging is not None
