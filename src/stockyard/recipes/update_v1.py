"""Edits of `stockyard recipe update` on a v1 recipe.yaml, kept round-trip (ruamel.yaml)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from stockyard.recipes import recipe_file
from stockyard.recipes.deps import Converted
from stockyard.recipes.errors import RecipeInvalid
from stockyard.recipes.update import Change, UpdateResult
from stockyard.recipes.upstream import Release

#: The recipe sections an upstream change of a section ("run" or "host") lands in.
TARGETS = {"run": ("run", "run_constraints"), "host": ("host",)}


def is_pypi_url(url: str) -> bool:
    return "/packages/" in url or "pythonhosted" in url


def pypi_name_from_url(url: str) -> str | None:
    """`https://pypi.org/packages/source/r/rich/rich-1.0.tar.gz` -> `rich`."""
    parts = url.split("/packages/source/")
    if len(parts) == 2 and parts[1].count("/") >= 2:
        return parts[1].split("/")[1]
    return None


class V1Editor:
    """A v1 recipe.yaml as a round-trip document."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.document = recipe_file.load(path)
        self.context = self.document.get("context") or {}
        if "version" not in self.context:
            raise RecipeInvalid(
                f"{path} has no context.version", hint="Put the version in context."
            )

    def version(self) -> str:
        return str(self.context["version"])

    def pypi_name(self) -> str:
        sources = self.document.get("source")
        for source in sources if isinstance(sources, list) else [sources or {}]:
            found = pypi_name_from_url(recipe_file.expand(str(source.get("url", "")), self.context))
            if found:
                return found
        head = self.document.get("package") or self.document.get("recipe") or {}
        name = self.context.get("name") or head.get("name")
        if not name:
            raise RecipeInvalid(
                "cannot tell the PyPI project of this recipe", hint="Add context.name."
            )
        return recipe_file.expand(str(name), self.context)

    def noarch_python(self) -> bool:
        return any(
            str((output.get("build") or {}).get("noarch", "")) == "python"
            for output in [self.document, *recipe_file.outputs(self.document)]
        )

    def set_version(self, version: str) -> None:
        self.document["context"]["version"] = version

    def set_sha256(self, new: Release, result: UpdateResult) -> None:
        sources = self.document.get("source")
        entries = sources if isinstance(sources, list) else [sources]
        updated = False
        for source in entries:
            if not isinstance(source, dict) or "sha256" not in source:
                continue
            url = str(source.get("url", ""))
            if is_pypi_url(url) and new.sdist and not updated:
                source["sha256"] = new.sdist.sha256
                result.edits.append(f"sha256 {new.sdist.sha256}")
                updated = True
            else:
                result.needs_human.append(f"source {url} is not on PyPI: update its sha256 by hand")
        if not updated:
            result.needs_human.append(
                "no PyPI source with a sha256 found: update the source by hand"
            )

    def reset_build_number(self) -> None:
        build = self.document.get("build")
        if isinstance(build, dict) and "number" in build:
            build["number"] = 0

    def _package(self) -> str:
        head = self.document.get("package") or self.document.get("recipe") or {}
        return recipe_file.expand(str(head.get("name", "")), self.context)

    def _main(self) -> Any:
        outputs = recipe_file.outputs(self.document)
        package = self._package()
        return next(
            (o for o in outputs if recipe_file.output_name(self.document, o) == package),
            outputs[0],
        )

    def _groups(self) -> Any:
        """The main output's CEP 44 extras (`requirements.extras`), None when it has none."""
        groups = (self._main().get("requirements") or {}).get("extras")
        return groups if isinstance(groups, dict) else None

    def apply_change(self, change: Change, result: UpdateResult) -> None:
        if change.extra is not None:
            self._apply_extra_change(change, result)
            return
        touched = False
        for output in recipe_file.outputs(self.document):
            label = recipe_file.output_name(self.document, output)
            for section, entries in recipe_file.requirement_lists(output).items():
                if section in TARGETS[change.section]:
                    touched |= _edit_list(entries, change, f"{label}/{section}", result)
        if not touched and change.after is not None and change.before is None:
            self._add_to_main(change, result)
        elif not touched and change.after is not None:
            result.needs_human.append(
                f"upstream changed {change.name} to '{change.after}' but the recipe has no "
                "such line"
            )

    def _add_to_main(self, change: Change, result: UpdateResult) -> None:
        requirements = self._main().setdefault("requirements", {})
        requirements.setdefault(change.section, []).append(change.after)
        result.edits.append(f"{self._package()}/{change.section}: added '{change.after}'")

    def _apply_extra_change(self, change: Change, result: UpdateResult) -> None:
        """A line of one extra: its `{name}-with-{extra}` output, or its CEP 44 group."""
        from stockyard.recipes.extras import output_name

        assert change.extra is not None
        wanted = output_name(self._package(), change.extra)
        for output in recipe_file.outputs(self.document):
            if recipe_file.output_name(self.document, output) == wanted:
                entries = recipe_file.requirement_lists(output).get("run")
                if entries is None:
                    entries = output.setdefault("requirements", {}).setdefault("run", [])
                if not _edit_list(entries, change, f"{wanted}/run", result) and change.after:
                    entries.append(change.after)
                    result.edits.append(f"{wanted}/run: added '{change.after}'")
                return
        groups = self._groups()
        if groups is not None and change.extra in groups:
            entries = groups[change.extra]
            where = f"{self._package()}/extras/{change.extra}"
            if not _edit_list(entries, change, where, result) and change.after:
                entries.append(change.after)
                result.edits.append(f"{where}: added '{change.after}'")
        # Otherwise the recipe does not package this extra: nothing to keep current.

    def packages_extras(self) -> bool:
        """Whether the recipe packages pip extras: `{name}-with-*` outputs or CEP 44 groups."""
        prefix = f"{self._package()}-with-"
        return self._groups() is not None or any(
            recipe_file.output_name(self.document, o).startswith(prefix)
            for o in recipe_file.outputs(self.document)
        )

    def add_extra(self, extra: str, lines: Converted, result: UpdateResult) -> None:
        """A new upstream extra: a `{name}-with-{extra}` output (or a CEP 44 group)."""
        from stockyard.recipes.extras import new_extra_output, output_name, pin
        from stockyard.recipes.model import Output
        from stockyard.recipes.render_v1 import output_body

        package = self._package()
        groups = self._groups()
        if groups is not None:
            groups[extra] = [dep.spec for dep in lines.deps]
            result.edits.append(f"{package}/extras: added CEP 44 group '{extra}'")
            return
        existing = {recipe_file.output_name(self.document, o) for o in self._outputs_list()}
        name = output_name(package, extra)
        if name in existing:
            return
        tests = self._main().get("tests") or []
        main = Output(
            name=package,
            noarch="python" if self.noarch_python() else None,
            tests=[copy.deepcopy(dict(test)) for test in tests[:1] if "python" in test],
        )
        output = new_extra_output(main, extra, lines, existing)
        self._make_multi_output()
        self.document["outputs"].append({"package": {"name": name}, **output_body(output)})
        all_output = output_name(package, "all")
        for other in self.document["outputs"]:
            if name != all_output and recipe_file.output_name(self.document, other) == all_output:
                other.setdefault("requirements", {}).setdefault("run", []).append(pin(name))
                result.edits.append(f"{all_output}/run: added '{pin(name)}'")
        result.edits.append(f"added output {name} (new extra '{extra}' upstream)")
        result.needs_human.append(f"new extra '{extra}' upstream became output {name}: review it")

    def _outputs_list(self) -> list[Any]:
        return list(self.document.get("outputs") or [self.document])

    def _make_multi_output(self) -> None:
        """A single-output recipe becomes `recipe:` + `outputs:` (its body the first output)."""
        if self.document.get("outputs"):
            return
        from ruamel.yaml.comments import CommentedMap

        document = self.document
        position = list(document).index("package")
        head = document.pop("package")
        document.insert(position, "recipe", head)
        output = CommentedMap({"package": CommentedMap({"name": head.get("name")})})
        build = document.get("build")
        if isinstance(build, dict):
            moved = {key: build.pop(key) for key in list(build) if key != "number"}
            if moved:
                output["build"] = CommentedMap(moved)
        for key in ("requirements", "tests"):
            if key in document:
                output[key] = document.pop(key)
        position = list(document).index("about") if "about" in document else len(document)
        document.insert(position, "outputs", [output])

    def text(self) -> str:
        return recipe_file.dump(self.document)


def _edit_list(entries: Any, change: Change, where: str, result: UpdateResult) -> bool:
    for index, entry in enumerate(list(entries)):
        spec = recipe_file.entry_spec(entry)
        if spec is None and isinstance(entry, dict) and isinstance(entry.get("then"), str):
            spec = str(entry["then"])
        if spec is None or spec.split()[0] != change.name:
            continue
        if change.after is None:
            del entries[index]
            result.edits.append(f"{where}: removed '{spec}'")
        else:
            if isinstance(entry, dict):
                entry["then"] = change.after
            else:
                entries[index] = change.after
            result.edits.append(f"{where}: '{spec}' -> '{change.after}'")
        return True
    return False
