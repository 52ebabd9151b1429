"""Errors of recipe generation and maintenance; each carries a hint for the user."""

from __future__ import annotations

from stockyard.types.errors import NotFound, StockyardError


class UpstreamNotFound(NotFound):
    """The package or version does not exist upstream."""

    default_hint = "Check the spelling (PyPI names are case-insensitive) and the version."


class UpstreamError(StockyardError):
    """Upstream answered with something we cannot use (an HTTP error, broken metadata)."""

    default_hint = "Retry later, or pass a version whose files are intact."


class RecipeInvalid(StockyardError):
    """A recipe file cannot be read: not YAML, or Jinja we cannot evaluate."""

    default_hint = "Fix the recipe so that it is a v1 recipe.yaml (or a v0 meta.yaml)."
