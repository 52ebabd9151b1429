"""Reading and writing existing recipes with their comments and layout kept (ruamel.yaml)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from stockyard.recipes.errors import RecipeInvalid

_EXPRESSION = re.compile(r"\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(\|lower)?\s*\}\}")
SECTIONS = ("build", "host", "run", "run_constraints")


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load(path: Path) -> Any:
    """A v1 recipe as a round-trip document; RecipeInvalid when it is not a YAML mapping."""
    from ruamel.yaml.error import YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeInvalid(f"cannot read {path}: {exc}") from exc
    if "{%" in text or re.search(r"(?<!\$)\{\{", text):
        raise RecipeInvalid(
            f"{path} uses Jinja statements (a v0 meta.yaml?); only v1 recipe.yaml is supported",
            hint="Convert it to recipe.yaml first (e.g. with conda-recipe-manager or feedrattler).",
        )
    try:
        document = _yaml().load(text)
    except YAMLError as exc:
        raise RecipeInvalid(f"{path} is not YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(document, dict):
        raise RecipeInvalid(f"{path} is not a recipe: its top level is not a mapping")
    return document


def dump(document: Any) -> str:
    stream = io.StringIO()
    _yaml().dump(document, stream)
    return stream.getvalue()


def expand(text: str, context: dict[str, Any]) -> str:
    """`${{ name }}` / `${{ name|lower }}` from the context; anything else is an error."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in context:
            raise RecipeInvalid(f"cannot evaluate ${{{{ {key} }}}}: not in the recipe's context")
        value = str(context[key])
        return value.lower() if match.group(2) else value

    return _EXPRESSION.sub(substitute, text)


def outputs(document: Any) -> list[Any]:
    """Every output (the top level of a single-output recipe counts as one)."""
    found = [output for output in document.get("outputs") or [] if "package" in output]
    return found or [document]


def output_name(document: Any, output: Any) -> str:
    context = document.get("context") or {}
    package = output.get("package") or document.get("package") or {}
    return expand(str(package.get("name", "")), context)


def requirement_lists(output: Any) -> dict[str, Any]:
    section = output.get("requirements") or {}
    return {key: section[key] for key in SECTIONS if isinstance(section.get(key), list)}


def entry_spec(entry: Any) -> str | None:
    """The MatchSpec of a plain line; None for selectors and Jinja."""
    return str(entry) if isinstance(entry, str) and not entry.startswith("${{") else None
