"""`stockyard recipe split`: a single-output C/C++ library recipe in conda-forge's split layout.

One CEP 41 staging output builds and installs once; the package outputs take their files from
it:

- `lib<name>`: the shared library (`lib/lib<name>.so.*`, `lib/lib<name>.*.dylib`,
  `Library/bin/*.dll`), with `run_exports` so that whatever links it depends on it;
- `lib<name>-devel`: headers, the unversioned `.so`/`.dylib` link, the Windows import library,
  pkg-config and CMake files; depends on `lib<name>` exactly;
- `lib<name>-static`: static archives (CFEP-18: static libraries go in their own output);
- `<name>` (when the recipe's package is not `lib<name>` itself): executables, depending on the
  library; a metapackage when there are none.

Every output gets a `package_contents` test of what it must and must not hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockyard.recipes import recipe_file
from stockyard.recipes.errors import RecipeInvalid


def _pin(name: str, exact: bool = True) -> str:
    how = "exact=True" if exact else 'upper_bound="x"'
    return f'${{{{ pin_subpackage("{name}", {how}) }}}}'


def library_files(stem: str) -> dict[str, list[str]]:
    """The globs of each output, by role."""
    return {
        "shared": [
            f"lib/lib{stem}.so.*",
            f"lib/lib{stem}.*.dylib",
            f"Library/bin/{stem}*.dll",
            f"Library/bin/lib{stem}*.dll",
        ],
        "devel": [
            "include/**",
            f"lib/lib{stem}.so",
            f"lib/lib{stem}.dylib",
            "lib/pkgconfig/**",
            "lib/cmake/**",
            "share/pkgconfig/**",
            "Library/include/**",
            f"Library/lib/{stem}.lib",
            "Library/lib/pkgconfig/**",
            "Library/lib/cmake/**",
        ],
        "static": [
            f"lib/lib{stem}.a",
            f"Library/lib/{stem}_static.lib",
            f"Library/lib/lib{stem}.lib",
        ],
        "tools": ["bin/**", "Library/bin/*.exe"],
    }


def _contents(exists: list[str], not_exists: list[str]) -> dict[str, Any]:
    files: dict[str, Any] = {}
    if exists:
        files["exists"] = exists
    if not_exists:
        files["not_exists"] = not_exists
    return {"package_contents": {"files": files}}


def _outputs(stem: str, lib: str, tool: str | None, run: list[Any], staging: str) -> list[Any]:
    files = library_files(stem)
    shared = {
        "package": {"name": lib},
        "inherit": staging,
        "build": {"files": files["shared"]},
        "requirements": {"run_exports": [_pin(lib, exact=False)], **({"run": run} if run else {})},
        "tests": [_contents([], ["include/**", f"lib/lib{stem}.a", f"lib/lib{stem}.so"])],
    }
    devel = {
        "package": {"name": f"{lib}-devel"},
        "inherit": staging,
        "build": {"files": files["devel"]},
        "requirements": {"run": [_pin(lib)], "run_exports": [_pin(lib, exact=False)]},
        "tests": [_contents(["include/**"], [f"lib/lib{stem}.a"])],
    }
    static = {
        "package": {"name": f"{lib}-static"},
        "inherit": staging,
        "build": {"files": files["static"]},
        "requirements": {"run": [_pin(f"{lib}-devel")]},
        "tests": [_contents([f"lib/lib{stem}.a"], ["include/**"])],
    }
    outputs = [shared, devel, static]
    if tool:
        outputs.append(
            {
                "package": {"name": tool},
                "inherit": staging,
                "build": {"files": files["tools"]},
                "requirements": {"run": [_pin(lib), _pin(f"{lib}-devel")]},
                "tests": [_contents([], ["include/**", f"lib/lib{stem}.a"])],
            }
        )
    return outputs


def split_document(document: Any, library: str | None = None) -> dict[str, Any]:
    """The split recipe of a single-output recipe document."""
    if document.get("outputs"):
        raise RecipeInvalid("the recipe has outputs already", hint="Split a single-output recipe.")
    context = dict(document.get("context") or {})
    package = document.get("package") or {}
    name = recipe_file.expand(str(package.get("name", "")), context)
    if not name:
        raise RecipeInvalid("the recipe names no package", hint="Add package.name.")
    lib = library or (name if name.startswith("lib") else f"lib{name}")
    stem = lib.removeprefix("lib")
    build = dict(document.get("build") or {})
    requirements = dict(document.get("requirements") or {})
    staging_name = f"{stem}-build"
    staging: dict[str, Any] = {"staging": {"name": staging_name}}
    staging_requirements = {k: requirements[k] for k in ("build", "host") if k in requirements}
    if staging_requirements:
        staging["requirements"] = staging_requirements
    staging["build"] = {"script": build.get("script", "build.sh")}
    tool = None if name == lib else name
    split: dict[str, Any] = {"schema_version": 1}
    if context:
        split["context"] = context
    split["recipe"] = {"name": f"{stem}-split", "version": package.get("version")}
    split["source"] = document.get("source")
    split["build"] = {"number": build.get("number", 0)}
    outputs = _outputs(stem, lib, tool, list(requirements.get("run") or []), staging_name)
    split["outputs"] = [staging, *outputs]
    for key in ("about", "extra"):
        if key in document:
            split[key] = document[key]
    return split


def split_recipe_file(path: Path, library: str | None = None) -> str:
    return recipe_file.dump(split_document(recipe_file.load(path), library))


#: What a Python package's own output keeps of the staging install (everything pip put in).
PYTHON_FILES = ["lib/python*/site-packages/**", "Lib/site-packages/**", "bin/**", "Scripts/**"]


def split_generated(document: dict[str, Any], library: str | None = None) -> dict[str, Any]:
    """`generate pypi --split-libs`: a compiled Python package that also installs a C/C++
    library into the prefix (headers in `include/`, `lib<name>.so` in `lib/`), in the split
    layout: one staging build, the `lib<name>`/`-devel`/`-static` outputs, the Python package's
    own output (site-packages and scripts, pinned to the library it was built with) and the
    extras outputs as they were."""
    outputs = list(document.get("outputs") or [])
    main = outputs[0] if outputs else document
    extras = outputs[1:]
    build = dict(main.get("build") or {})
    package = str((main.get("package") or document.get("package") or {}).get("name", ""))
    name = recipe_file.expand(package, dict(document.get("context") or {}))
    if build.get("noarch"):
        raise RecipeInvalid(
            f"--split-libs splits compiled packages; {name} is noarch: {build['noarch']}",
            hint="Pure Python packages install no C/C++ library: drop --split-libs.",
        )
    lib = library or (name if name.startswith("lib") else f"lib{name}")
    stem = lib.removeprefix("lib")
    staging_name = f"{stem}-build"
    requirements = dict(main.get("requirements") or {})
    staging: dict[str, Any] = {"staging": {"name": staging_name}}
    staging["requirements"] = {k: requirements[k] for k in ("build", "host") if k in requirements}
    staging["build"] = {"script": build.get("script")}
    python_build: dict[str, Any] = {"files": PYTHON_FILES}
    if "python" in build:
        python_build["python"] = build["python"]
    python_output: dict[str, Any] = {
        "package": {"name": package},
        "inherit": staging_name,
        "build": python_build,
        "requirements": {
            # The Python variant of the package comes from its own host python.
            "host": [dep for dep in requirements.get("host", []) if dep == "python"],
            "run": [*requirements.get("run", []), _pin(lib)],
        },
        "tests": [
            *(main.get("tests") or []),
            _contents([], ["include/**", f"lib/lib{stem}.a"]),
        ],
    }
    split: dict[str, Any] = {"schema_version": 1, "context": document.get("context")}
    split["recipe"] = dict(document.get("recipe") or document.get("package") or {})
    split["source"] = document.get("source")
    split["build"] = {"number": (document.get("build") or {}).get("number", 0)}
    lib_outputs = _outputs(stem, lib, None, [], staging_name)
    split["outputs"] = [staging, *lib_outputs, python_output, *extras]
    for key in ("about", "extra"):
        if key in document:
            split[key] = document[key]
    return split
