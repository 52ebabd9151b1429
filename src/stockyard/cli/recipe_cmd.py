"""`stockyard recipe`: generate conda recipes from PyPI and CRAN, split libraries, update, lint.

Every command imports its service lazily so that the other commands never load httpx or
rattler-build. Errors are `StockyardError`s: one line and a hint.
"""

from __future__ import annotations

from pathlib import Path

import typer

from stockyard.cli.output import print_json, stdout

recipe_app = typer.Typer(
    help="Generate conda recipes (PyPI, CRAN), split C/C++ libraries, update and lint recipes.",
    no_args_is_help=True,
)
generate_app = typer.Typer(help="Write a new recipe from upstream metadata.", no_args_is_help=True)
recipe_app.add_typer(generate_app, name="generate")

_OUTPUT_HELP = "Write the recipe into this directory (default: print it)."


def _emit(text: str, output: Path | None, filename: str) -> None:
    from stockyard.recipes.service import write_atomically

    if output is None:
        typer.echo(text, nl=False)
        return
    write_atomically(output / filename, text)
    stdout.print(f"wrote {output / filename}", highlight=False)


def _check_format(fmt: str) -> None:
    from stockyard.recipes.errors import RecipeInvalid

    if fmt not in ("v1", "v0"):
        raise RecipeInvalid(f"unknown format {fmt!r}", hint="Use --format v1 or --format v0.")


def _check_render(text: str, filename: str, v3: bool) -> None:
    """Render a v1 recipe with rattler-build before it is written anywhere."""
    import tempfile

    from stockyard.recipes.rendercheck import render_recipe

    with tempfile.TemporaryDirectory(prefix="stockyard-recipe-") as scratch:
        path = Path(scratch) / filename
        path.write_text(text, encoding="utf-8")
        render_recipe(path, v3=v3)


def _preload_render_check() -> None:
    from stockyard.recipes.rendercheck import preload

    preload()


@generate_app.command("pypi")
def generate_pypi(
    spec: str = typer.Argument(..., metavar="NAME[==VERSION]", help="A PyPI project."),
    output: Path = typer.Option(None, "--output", "-o", help=_OUTPUT_HELP),
    fmt: str = typer.Option("v1", "--format", help="v1 (recipe.yaml) or v0 (meta.yaml)."),
    extras_as: str = typer.Option(
        "outputs", "--extras-as", help="outputs ({name}-with-{extra}), cep44, or none."
    ),
    with_all: bool = typer.Option(False, "--with-all", help="Add a {name}-with-all output."),
    python_min: str = typer.Option(
        "3.10", "--python-min", help="The oldest Python the channel builds for."
    ),
    check: bool = typer.Option(
        True, "--check/--no-check", help="Render the v1 recipe with rattler-build first."
    ),
    index_url: str = typer.Option(
        "https://pypi.org",
        "--index-url",
        help="A PyPI-compatible index: its JSON API (/pypi/NAME/json) and simple index "
        "(/simple/, where build requirements are installed from).",
    ),
    build_metadata: bool = typer.Option(
        True,
        "--build-metadata/--no-build-metadata",
        help="For an sdist-only release with dynamic requirements, run its PEP 517 backend "
        "in an isolated environment (a fresh venv in a child process) to get its metadata.",
    ),
    build_timeout: float = typer.Option(
        300.0, "--build-timeout", min=1, help="Seconds the isolated metadata build may take."
    ),
    split_libs: bool = typer.Option(
        False,
        "--split-libs",
        help="For a compiled package that installs a C/C++ library: the lib<name>, "
        "lib<name>-devel, lib<name>-static layout of `stockyard recipe split` (v1 only).",
    ),
    library: str = typer.Option(
        None, "--lib", help="With --split-libs: the library name (default: lib<package>)."
    ),
) -> None:
    """Write a recipe for a PyPI project from its metadata (never runs setup.py in-process)."""
    from stockyard.recipes.errors import RecipeInvalid
    from stockyard.recipes.options import GenerateOptions
    from stockyard.recipes.sdist_build import BuildPolicy
    from stockyard.recipes.service import generate_pypi as generate
    from stockyard.recipes.service import recipe_filename, render, render_split

    _check_format(fmt)
    if extras_as not in ("outputs", "cep44", "none"):
        raise RecipeInvalid(f"unknown --extras-as {extras_as!r}", hint="outputs, cep44 or none")
    options = GenerateOptions(extras_as=extras_as, with_all=with_all, python_min=python_min)  # type: ignore[arg-type]
    if split_libs and fmt != "v1":
        raise RecipeInvalid(
            "--split-libs writes a v1 recipe (a CEP 41 staging output has no v0 form)",
            hint="Drop --format v0.",
        )
    if library and not split_libs:
        raise RecipeInvalid("--lib goes with --split-libs", hint="Add --split-libs.")
    build = BuildPolicy(enabled=build_metadata, timeout=build_timeout)
    # rattler-build's import (for the render check) runs while PyPI is being read.
    preload = _preload_render_check if check and fmt == "v1" else None
    recipe = generate(spec, options, index_url=index_url, build=build, meanwhile=preload)
    text = render_split(recipe, library) if split_libs else render(recipe, fmt)
    if check and fmt == "v1":
        _check_render(text, recipe_filename(fmt), v3=extras_as == "cep44")
    _emit(text, output, recipe_filename(fmt))


@generate_app.command("cran")
def generate_cran(
    source: str = typer.Argument(
        ...,
        metavar="NAME[==VERSION]|TARBALL|DESCRIPTION",
        help="A package on the CRAN repository, a source tarball or a DESCRIPTION file.",
    ),
    output: Path = typer.Option(None, "--output", "-o", help=_OUTPUT_HELP),
    check: bool = typer.Option(True, "--check/--no-check", help="Render with rattler-build."),
    cran_url: str = typer.Option(
        "https://cran.r-project.org",
        "--cran-url",
        help="A CRAN mirror or CRAN-like repository (serving src/contrib/PACKAGES) for NAME.",
    ),
) -> None:
    """Write an r-<name> recipe from an R package's DESCRIPTION."""
    from stockyard.recipes.cran import generate_cran as generate
    from stockyard.recipes.render_v1 import render_v1

    recipe = generate(source, cran_url)
    text = render_v1(recipe)
    if check:
        _check_render(text, "recipe.yaml", v3=False)
    _emit(text, output, "recipe.yaml")


@recipe_app.command("map")
def map_name(
    names: list[str] = typer.Argument(..., help="PyPI project names."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show the conda name each PyPI name maps to, and which rule gave it."""
    from stockyard.recipes.names import map_name as lookup
    from stockyard.recipes.names import mapping_table

    mappings = [lookup(name) for name in names]
    if as_json:
        print_json({"mappings": [m.to_json() for m in mappings]})
        return
    table = mapping_table()
    for mapping in mappings:
        rule = "mapping table" if mapping.from_table else "PEP 503 normalization"
        typer.echo(f"{mapping.pypi_name} -> {mapping.conda_name} ({rule})")
    typer.echo(f"mapping table version {table.version} ({table.updated})")


@recipe_app.command("split")
def split(
    recipe: Path = typer.Argument(..., help="A single-output C/C++ library recipe.yaml."),
    output: Path = typer.Option(None, "--output", "-o", help=_OUTPUT_HELP),
    library: str = typer.Option(None, "--lib", help="The library name (default: the package's)."),
) -> None:
    """Turn a C/C++ library recipe into lib<name>, lib<name>-devel, lib<name>-static outputs."""
    from stockyard.recipes.split import split_recipe_file

    _emit(split_recipe_file(recipe, library), output, "recipe.yaml")


@recipe_app.command("update")
def update(
    recipe: Path = typer.Argument(..., help="A recipe.yaml (v1) or meta.yaml (v0)."),
    to: str = typer.Option(None, "--to", help="The version to update to (default: newest)."),
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON (for bots)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Do not write the recipe."),
    fmt: str = typer.Option(
        "auto",
        "--format",
        help="v1 (recipe.yaml), v0 (meta.yaml: edited as text, Jinja kept) or auto "
        "(v0 for meta.yaml or a file with Jinja).",
    ),
    index_url: str = typer.Option(
        "https://pypi.org", "--index-url", help="A PyPI-compatible index (JSON API)."
    ),
) -> None:
    """Update a recipe to a new upstream version and apply the upstream requirement changes."""
    from stockyard.recipes.errors import RecipeInvalid
    from stockyard.recipes.update import update_recipe_file

    if fmt not in ("auto", "v1", "v0"):
        raise RecipeInvalid(f"unknown format {fmt!r}", hint="Use --format auto, v1 or v0.")
    result = update_recipe_file(
        recipe,
        to,
        write=not dry_run,
        fmt=fmt,  # type: ignore[arg-type]
        index_url=index_url,
    )
    if as_json:
        print_json(result.to_json())
        return
    typer.echo(result.pr_body(), nl=False)


@recipe_app.command("lint")
def lint(
    recipe: Path = typer.Argument(..., help="A recipe.yaml (v1)."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Check what a reviewer would: SPDX license, license_file, noarch, pins, tests."""
    from stockyard.recipes.lint import lint_recipe_file

    findings = lint_recipe_file(recipe)
    if as_json:
        print_json({"findings": [finding.to_json() for finding in findings]})
    else:
        for finding in findings:
            typer.echo(str(finding))
        typer.echo(f"{len(findings)} findings" if findings else "no findings")
    if any(finding.severity == "error" for finding in findings):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(recipe_app, name="recipe")
