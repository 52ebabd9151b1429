"""What the `stockyard recipe` commands call: one function per command, no printing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from stockyard.recipes.errors import RecipeInvalid

if TYPE_CHECKING:
    # Imported where used: `generate_pypi` imports them while PyPI answers (see there).
    import httpx

    from stockyard.recipes.model import Recipe
    from stockyard.recipes.pypi_recipe import GenerateOptions
    from stockyard.recipes.sdist_build import BuildPolicy
    from stockyard.recipes.upstream import Release

PYPI_URL = "https://pypi.org"


def parse_requirement_arg(text: str) -> tuple[str, str | None]:
    """`rich` or `rich==14.3.3` -> (name, version)."""
    name, _, version = text.partition("==")
    if not name.strip() or (version and not version.strip()):
        raise RecipeInvalid(f"{text!r} is not NAME or NAME==VERSION", hint="e.g. rich==14.3.3")
    return name.strip(), version.strip() or None


def generate_pypi(
    spec: str,
    options: GenerateOptions,
    transport: httpx.BaseTransport | None = None,
    index_url: str = PYPI_URL,
    build: BuildPolicy | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> Recipe:
    """The recipe of `spec` from the PyPI-compatible index at `index_url` (its JSON API).

    PyPI is read in a worker thread while this one imports the recipe modules and runs
    `meanwhile` (the CLI imports rattler-build there for its render check): the round trips
    (TLS handshakes, the project document, the wheel and sdist reads) overlap with work that
    does not need them, instead of following it.
    """
    from concurrent.futures import ThreadPoolExecutor

    name, version = parse_requirement_arg(spec)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stockyard-fetch") as pool:
        fetching = pool.submit(_fetch_release, name, version, transport, index_url, build)
        from stockyard.recipes.pypi_recipe import build_recipe

        if meanwhile is not None:
            meanwhile()
        release = fetching.result()
    return build_recipe(release, options)


def _fetch_release(
    name: str,
    version: str | None,
    transport: httpx.BaseTransport | None,
    index_url: str,
    build: BuildPolicy | None,
) -> Release:
    from stockyard.recipes import pypi
    from stockyard.recipes.upstream import fetch_release

    # Looked up on the module at call time, so the tests' recorded transport applies here too.
    with pypi.new_http_client(transport) as http:
        return fetch_release(pypi.PyPIClient(http, index_url), name, version, build)


def render(recipe: Recipe, fmt: str) -> str:
    # Only the renderer asked for is imported (render_v0 alone cost 80 ms to import).
    if fmt == "v1":
        from stockyard.recipes.render_v1 import render_v1

        return render_v1(recipe)
    from stockyard.recipes.render_v0 import render_v0

    return render_v0(recipe)


def render_split(recipe: Recipe, library: str | None = None) -> str:
    """`generate --split-libs`: the v1 recipe in the library split layout (see split.py)."""
    from stockyard.recipes.render_v1 import header_comments, recipe_document
    from stockyard.recipes.split import split_generated
    from stockyard.recipes.yamlio import dump

    document = split_generated(recipe_document(recipe), library)
    recipe.notes.append(
        "split with --split-libs: check each output's files globs against what the build "
        "installs, and the run_exports upper bound against the library's ABI policy"
    )
    return header_comments(recipe) + dump(document)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so no half-written recipe remains."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def recipe_filename(fmt: str) -> str:
    return "recipe.yaml" if fmt == "v1" else "meta.yaml"
