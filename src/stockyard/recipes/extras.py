"""Pip extras as conda packages.

Default (`--extras-as outputs`, conda-forge's convention): each extra becomes an output
`{name}-with-{extra}` that holds no files, depends on the main output pinned exactly and adds
the extra's requirements; `--with-all` adds `{name}-with-all` depending on every one of them.
An extra that names other extras of the package itself (`all = ["pkg[a,b]"]`) depends on their
outputs; a cycle among extras is cut with a note.

`--extras-as cep44` writes the extras as CEP 44 optional dependency groups
(`requirements.extras`) of the main output instead; rattler-build renders those only with the
V3 repodata revision (`--v3`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stockyard.recipes.deps import Converted, convert
from stockyard.recipes.model import Dep, Output, Recipe, Requirements
from stockyard.recipes.names import normalize

if TYPE_CHECKING:
    from stockyard.recipes.pypi_recipe import GenerateOptions
    from stockyard.recipes.upstream import Release


# Extras for a project's own development: conda-forge packages none of them.
TOOLING_EXTRAS = frozenset(
    {"dev", "develop", "development", "doc", "docs", "test", "tests", "testing", "lint"}
    | {"typing", "types", "benchmark", "benchmarks", "bench", "coverage", "release", "check"}
)


def output_name(package: str, extra: str) -> str:
    return f"{package}-with-{normalize(extra)}"


def _pin(name: str) -> Dep:
    return Dep(f'${{{{ pin_subpackage("{name}", exact=True) }}}}')


def extras_of(release: Release, python_min: str, noarch: bool) -> dict[str, Converted]:
    metadata = release.metadata
    return {
        normalize(extra): convert(
            metadata.requires_dist, release.pypi_name, python_min, noarch, extra=extra
        )
        for extra in metadata.provides_extra
        if normalize(extra) not in TOOLING_EXTRAS
    }


def _closure(extra: str, converted: dict[str, Converted], notes: list[str]) -> list[str]:
    """The other extras `extra` pulls in, transitively; a cycle back to `extra` is reported."""
    seen: list[str] = []
    stack: list[tuple[str, tuple[str, ...]]] = [(extra, ())]
    while stack:
        current, path = stack.pop()
        for other in map(normalize, converted[current].self_extras if current in converted else []):
            if other == extra or other in path:
                notes.append(f"extras cycle {' -> '.join((*path, current, other))} cut")
                continue
            if other not in seen:
                seen.append(other)
                stack.append((other, (*path, current)))
    return seen


def add_extras(
    recipe: Recipe, release: Release, python_min: str, noarch: bool, options: GenerateOptions
) -> None:
    converted = extras_of(release, python_min, noarch)
    for result in converted.values():
        recipe.notes += result.notes
    if options.extras_as == "cep44":
        groups = {extra: [dep.spec for dep in result.deps] for extra, result in converted.items()}
        recipe.extra_groups = {extra: specs for extra, specs in groups.items() if specs}
        return
    main = recipe.main
    for extra, result in list(converted.items()):
        if not result.deps and not result.self_extras:
            recipe.notes.append(f"extra {extra!r} adds no requirement here; no output for it")
            del converted[extra]
    closures = {extra: _closure(extra, converted, recipe.notes) for extra in converted}
    for extra, result in converted.items():
        pins, deps = [_pin(main.name)], list(result.deps)
        for other in (name for name in closures[extra] if name in converted):
            if extra in closures[other]:
                # Outputs depending on each other cannot be built: inline the other's lines.
                deps += [dep for dep in converted[other].deps if dep not in deps]
            else:
                pins.append(_pin(output_name(main.name, other)))
        output = _extra_output(main, output_name(main.name, extra), pins, Converted(deps))
        recipe.outputs.append(output)
    if options.with_all and converted and "all" not in converted:
        run = [_pin(main.name), *(_pin(output_name(main.name, extra)) for extra in converted)]
        recipe.outputs.append(_extra_output(main, output_name(main.name, "all"), run, Converted()))


def _extra_output(main: Output, name: str, pins: list[Dep], result: Converted) -> Output:
    from stockyard.recipes.pypi_recipe import add_virtual_packages

    output = Output(
        name=name,
        requirements=Requirements(run=[*pins, *result.deps]),
        # A noarch main allows a noarch extra; a compiled one needs one build per variant
        # because the exact pin names the main output's build.
        noarch="generic" if main.noarch else None,
        tests=[dict(test) for test in main.tests[:1]],
    )
    # A noarch extra with OS-specific lines is built once per OS family, like its main output.
    add_virtual_packages(output, bool(main.noarch))
    return output


def new_extra_output(main: Output, extra: str, lines: Converted, existing: set[str]) -> Output:
    """The output of an extra that appeared upstream (`recipe update`), for a recipe whose
    outputs are `existing`: it pins the main output and those of the package's own extras it
    names that the recipe has."""
    pins = [_pin(main.name)]
    for other in map(normalize, lines.self_extras):
        if output_name(main.name, other) in existing:
            pins.append(_pin(output_name(main.name, other)))
    return _extra_output(main, output_name(main.name, extra), pins, lines)


def pin(name: str) -> str:
    """The exact `pin_subpackage` line of an output, as extras outputs write it (v1 syntax)."""
    return _pin(name).spec
