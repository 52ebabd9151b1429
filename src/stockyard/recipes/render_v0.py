"""`meta.yaml` (the v0, conda-build recipe format) from a `model.Recipe`.

v0 recipes are Jinja templates: the context becomes `{% set %}` lines, `${{ ... }}` becomes
`{{ ... }}`, selectors become line comments (`# [win and py<311]`), `noarch: python` uses
`python_min` like conda-forge's v0 recipes.
"""

from __future__ import annotations

import re
from typing import Any

from stockyard.recipes.model import Dep, Output, Recipe
from stockyard.recipes.yamlio import comment_block, dump

_V1_EXPR = re.compile(r"\$\{\{(.*?)\}\}")
_SELECTOR_KEY = "__selector__"


def _jinja(text: str) -> str:
    return _V1_EXPR.sub(lambda match: "{{" + match.group(1) + "}}", text)


def _dep(dep: Dep) -> str:
    spec = _jinja(dep.spec)
    return f"{spec}{_SELECTOR_KEY}{dep.selector.v0()}" if dep.selector else spec


def _requirements(output: Output) -> dict[str, Any]:
    section: dict[str, Any] = {}
    for key in ("build", "host", "run"):
        deps: list[Dep] = getattr(output.requirements, key)
        if deps:
            section[key] = [_dep(dep) for dep in deps]
    if output.requirements.run_constraints:
        section["run_constrained"] = [_dep(dep) for dep in output.requirements.run_constraints]
    return section


def _test(output: Output) -> dict[str, Any]:
    test: dict[str, Any] = {}
    for entry in output.tests:
        python = entry.get("python")
        if isinstance(python, dict):
            test["imports"] = python.get("imports", [])
            if python.get("pip_check"):
                test["requires"] = ["pip"]
                test["commands"] = ["pip check"]
    return test


def _build(output: Output, number: int | None) -> dict[str, Any]:
    build: dict[str, Any] = {} if number is None else {"number": number}
    if output.noarch:
        build["noarch"] = output.noarch
    if output.script:
        build["script"] = _jinja(str(output.script))
    if output.entry_points:
        build["entry_points"] = list(output.entry_points)
    return build


def _body(output: Output, number: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"build": _build(output, number)}
    body["requirements"] = _requirements(output)
    if output.tests:
        body["test"] = _test(output)
    return {key: value for key, value in body.items() if value}


def _about(about: dict[str, Any]) -> dict[str, Any]:
    renamed = {"homepage": "home", "repository": "dev_url", "documentation": "doc_url"}
    return {renamed.get(key, key): value for key, value in about.items()}


def _document(recipe: Recipe) -> dict[str, Any]:
    document: dict[str, Any] = {
        "package": {
            "name": recipe.name
            if recipe.name != recipe.context.get("name")
            else "{{ name|lower }}",
            "version": "{{ version }}",
        },
        "source": {key: _jinja(str(value)) for key, value in recipe.source.items()},
    }
    if not recipe.multi_output:
        document.update(_body(recipe.main, recipe.build_number))
    else:
        document["build"] = {"number": recipe.build_number}
        document["outputs"] = [
            {"name": output.name, **_body(output, None)} for output in recipe.outputs
        ]
    document["about"] = _about(recipe.about)
    return document


def _selector_comments(text: str) -> str:
    """Selectors are line comments in v0; PyYAML cannot write comments, so they ride along in
    the string and are turned into `  # [...]` here."""
    return re.sub(
        rf"^(\s*- )(.*?){_SELECTOR_KEY}(.*)$",
        lambda match: f"{match.group(1)}{match.group(2)}  # [{match.group(3)}]",
        text,
        flags=re.MULTILINE,
    )


def output_text(output: Output) -> str:
    """One entry of `outputs:` (`name:` first), as meta.yaml text without the list dash."""
    return _selector_comments(dump({"name": output.name, **_body(output, None)}))


def render_v0(recipe: Recipe) -> str:
    """The text of meta.yaml."""
    header = "".join(f'{{% set {key} = "{value}" %}}\n' for key, value in recipe.context.items())
    notes = comment_block([f"check by hand: {note}" for note in dict.fromkeys(recipe.notes)])
    return notes + header + "\n" + _selector_comments(dump(_document(recipe)))
