"""Edits of `stockyard recipe update` on a v0 meta.yaml (conda-build's Jinja + YAML format).

A meta.yaml is a Jinja template first, so it cannot be edited as YAML. It is *read* by rendering
it in Jinja's sandbox (`{% set %}` values, conda-build's functions stubbed, unknown names empty)
and loading the result as YAML: that gives the PyPI project, the source hash and the outputs. It
is *edited* as text, line by line, so that comments, selectors (`# [win]`) and layout stay as
they were:

- the version in `{% set version = "..." %}`; the PyPI source's sha256 (a literal, or the value
  of a `{% set %}`); `number:` (or the `{% set %}` it names) back to 0;
- a requirement upstream changed: the first line of that name in each `host` (build
  requirements) or `run`/`run_constrained` list, the selector comment kept; a removed one is
  deleted; an added one goes after the last line of the main output's list (when it has none, a
  human adds it). Lines that are Jinja (`{{ pin_subpackage(...) }}`) are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockyard.recipes.deps import Converted
from stockyard.recipes.errors import RecipeInvalid
from stockyard.recipes.model import Output
from stockyard.recipes.update import Change, UpdateResult
from stockyard.recipes.update_v1 import is_pypi_url, pypi_name_from_url
from stockyard.recipes.upstream import Release

_SET = re.compile(
    r"""^(?P<head>\s*\{%-?\s*set\s+(?P<key>\w+)\s*=\s*)"""
    r"""(?:(?P<quote>["'])(?P<text>.*?)(?P=quote)|(?P<number>\d+))(?P<tail>\s*-?%\}.*)$""",
    re.DOTALL,
)
_KEY = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>[A-Za-z_]+):\s*(?P<rest>.*?)\s*$")
_ITEM = re.compile(r"^(?P<lead>(?P<indent>\s*)-\s+)(?P<content>.*?)(?P<eol>\r?\n?)$", re.DOTALL)
_COMMENT = re.compile(r"(?P<gap>\s+)(?P<comment>#.*)$")
_NUMBER = re.compile(r"^(?P<head>\s*number:\s*)(?P<value>[^#\s][^#]*?)(?P<tail>\s*(#.*)?\r?\n?)$")
_JINJA_VARIABLE = re.compile(r"^\{\{\s*(\w+)\s*\}\}$")
#: The v0 lists an upstream change of a section ("run" or "host") lands in.
TARGETS = {"run": ("run", "run_constrained"), "host": ("host",)}


def looks_like_v0(text: str) -> bool:
    """Jinja statements, or `{{ }}` expressions not written the v1 way (`${{ }}`)."""
    return "{%" in text or re.search(r"(?<!\$)\{\{", text) is not None


@dataclass
class _List:
    """One requirement list of the text: its section, owning output and item line numbers."""

    section: str
    owner: str
    items: list[int] = field(default_factory=list)


def _render(text: str, path: Path) -> dict[str, Any]:
    """The meta.yaml as conda-build would read it, for looking things up (never written)."""
    import jinja2
    import yaml  # type: ignore[import-untyped]
    from jinja2.sandbox import SandboxedEnvironment

    class _Lenient(jinja2.ChainableUndefined):
        """Unknown names (compiler(), PYTHON, target_platform, ...) render as nothing."""

        def __call__(self, *args: object, **kwargs: object) -> _Lenient:  # type: ignore[override]
            return self

    environment = SandboxedEnvironment(undefined=_Lenient)
    stubs = {"load_setup_py_data": dict, "load_file_data": dict, "environ": {}, "os": None}
    try:
        rendered = environment.from_string(text).render(**stubs)
        document = yaml.safe_load(rendered)
    except (jinja2.TemplateError, yaml.YAMLError) as exc:
        raise RecipeInvalid(
            f"{path}: cannot evaluate it as a meta.yaml: {str(exc).splitlines()[0]}",
            hint="Stockyard reads v0 recipes through Jinja's sandbox with conda-build's "
            "functions stubbed; simplify the Jinja or convert the recipe to recipe.yaml.",
        ) from exc
    if not isinstance(document, dict):
        raise RecipeInvalid(f"{path} is not a recipe: its top level is not a mapping")
    return document


class V0Editor:
    """A v0 meta.yaml, read through Jinja and edited as text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeInvalid(f"cannot read {path}: {exc}") from exc
        self.lines = text.splitlines(keepends=True)
        self.sets = self._sets()
        if "version" not in self.sets:
            raise RecipeInvalid(
                f'{path} has no {{% set version = "..." %}}',
                hint="Put the version in a set statement, as conda-forge recipes do.",
            )
        self.document = _render(text, path)

    def _sets(self) -> dict[str, int]:
        """Line numbers of the `{% set key = value %}` statements, by key."""
        found: dict[str, int] = {}
        for number, line in enumerate(self.lines):
            match = _SET.match(line)
            if match:
                found.setdefault(match.group("key"), number)
        return found

    def _set_value(self, key: str) -> str:
        match = _SET.match(self.lines[self.sets[key]])
        assert match is not None
        return match.group("text") if match.group("number") is None else match.group("number")

    def _replace_set(self, key: str, value: str) -> None:
        number = self.sets[key]
        match = _SET.match(self.lines[number])
        assert match is not None
        quote = match.group("quote") or ""
        self.lines[number] = f"{match.group('head')}{quote}{value}{quote}{match.group('tail')}"

    def version(self) -> str:
        return self._set_value("version")

    def _sources(self) -> list[dict[str, Any]]:
        sources = self.document.get("source")
        entries = sources if isinstance(sources, list) else [sources]
        return [entry for entry in entries if isinstance(entry, dict)]

    @staticmethod
    def _urls(source: dict[str, Any]) -> list[str]:
        url = source.get("url")
        return [str(u) for u in url] if isinstance(url, list) else [str(url or "")]

    def pypi_name(self) -> str:
        for source in self._sources():
            for url in self._urls(source):
                found = pypi_name_from_url(url)
                if found:
                    return found
        name = (self.document.get("package") or {}).get("name")
        if not name:
            raise RecipeInvalid(f"cannot tell the PyPI project of {self.path}")
        return str(name)

    def _package(self) -> str:
        return str((self.document.get("package") or {}).get("name") or self.pypi_name())

    def noarch_python(self) -> bool:
        outputs = [o for o in self.document.get("outputs") or [] if isinstance(o, dict)]
        return any(
            str((entry.get("build") or {}).get("noarch", "")) == "python"
            for entry in [self.document, *outputs]
        )

    def set_version(self, version: str) -> None:
        self._replace_set("version", version)

    def set_sha256(self, new: Release, result: UpdateResult) -> None:
        updated = False
        for source in self._sources():
            old = str(source.get("sha256") or "")
            urls = self._urls(source)
            if not old:
                continue
            if any(is_pypi_url(url) for url in urls) and new.sdist and not updated:
                holders = [n for n, line in enumerate(self.lines) if old in line]
                if len(holders) == 1:
                    self.lines[holders[0]] = self.lines[holders[0]].replace(old, new.sdist.sha256)
                    result.edits.append(f"sha256 {new.sdist.sha256}")
                    updated = True
                    continue
            result.needs_human.append(
                f"source {urls[0]} is not on PyPI (or its sha256 is not a literal): update its "
                "sha256 by hand"
            )
        if not updated:
            result.needs_human.append(
                "no PyPI source with a sha256 found: update the source by hand"
            )

    def reset_build_number(self) -> None:
        for number, line in enumerate(self.lines):
            match = _NUMBER.match(line)
            if match is None:
                continue
            value = match.group("value").strip()
            variable = _JINJA_VARIABLE.match(value)
            if value.isdigit():
                self.lines[number] = f"{match.group('head')}0{match.group('tail')}"
            elif variable and variable.group(1) in self.sets:
                self._replace_set(variable.group(1), "0")

    def _lists(self) -> list[_List]:
        """Every requirement list (`build`/`host`/`run`/`run_constrained` under `requirements`)."""
        lists: list[_List] = []
        owner, owner_indent = self._package(), -1
        requirements_indent: int | None = None
        current: _List | None = None
        current_indent = 0
        for number, line in enumerate(self.lines):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or stripped.startswith("{%"):
                continue
            indent = len(line) - len(line.lstrip())
            item = _ITEM.match(line)
            if current is not None and item and indent >= current_indent:
                current.items.append(number)
                continue
            current = None
            key = _KEY.match(line)
            if key is None:
                continue
            key_indent = indent + len(key.group("dash") or "")
            if key.group("dash") and key.group("key") == "name":
                owner, owner_indent = self._expand(key.group("rest")), indent
            elif indent <= owner_indent:
                owner, owner_indent = self._package(), -1
            if requirements_indent is not None and key_indent <= requirements_indent:
                requirements_indent = None
            if key.group("key") == "requirements" and not key.group("rest"):
                requirements_indent = key_indent
            elif requirements_indent is not None and key.group("key") in (
                "build",
                "host",
                "run",
                "run_constrained",
            ):
                current = _List(key.group("key"), owner)
                current_indent = key_indent
                lists.append(current)
        return lists

    def _expand(self, value: str) -> str:
        """An output's `name:` value, with `{{ name }}`-style set values filled in."""
        value = value.split(" #", 1)[0].strip().strip("'\"")

        def substitute(match: re.Match[str]) -> str:
            key = match.group(1)
            return self._set_value(key).lower() if key in self.sets else match.group(0)

        return re.sub(r"\{\{\s*(\w+)(?:\|lower)?\s*\}\}", substitute, value)

    def apply_change(self, change: Change, result: UpdateResult) -> None:
        from stockyard.recipes.extras import output_name

        touched = False
        # An extra's lines live in its `{name}-with-{extra}` output only.
        owner = output_name(self._package(), change.extra) if change.extra else None
        # Bottom to top: deleting a line leaves the line numbers of the lists above intact.
        for entry in reversed(self._lists()):
            if entry.section in TARGETS[change.section] and owner in (None, entry.owner):
                touched |= self._edit(entry, change, result)
        if touched or change.after is None:
            return
        if owner is not None:
            if any(entry.owner == owner for entry in self._lists()):
                self._add(change, result, owner)
            return
        if change.before is not None:
            result.needs_human.append(
                f"upstream changed {change.name} to '{change.after}' but the recipe has no such "
                "line"
            )
            return
        self._add(change, result)

    def _edit(self, entry: _List, change: Change, result: UpdateResult) -> bool:
        where = f"{entry.owner}/{entry.section}"
        for number in entry.items:
            match = _ITEM.match(self.lines[number])
            assert match is not None
            content = match.group("content")
            comment = _COMMENT.search(content)
            spec = content[: comment.start()] if comment else content
            if spec.lstrip("'\"").startswith("{{") or spec.split()[:1] != [change.name]:
                continue
            if change.after is None:
                del self.lines[number]
                result.edits.append(f"{where}: removed '{spec.strip()}'")
            else:
                suffix = f"{comment.group('gap')}{comment.group('comment')}" if comment else ""
                self.lines[number] = (
                    f"{match.group('lead')}{change.after}{suffix}{match.group('eol')}"
                )
                result.edits.append(f"{where}: '{spec.strip()}' -> '{change.after}'")
            return True
        return False

    def _add(self, change: Change, result: UpdateResult, owner: str | None = None) -> None:
        package = owner or self._package()
        candidates = [
            entry for entry in self._lists() if entry.section == change.section and entry.items
        ]
        target = next((e for e in candidates if e.owner == package), None)
        if target is None:
            result.needs_human.append(
                f"upstream added {change.section} requirement '{change.after}' to {package}: "
                "add it by hand"
            )
            return
        last = target.items[-1]
        match = _ITEM.match(self.lines[last])
        assert match is not None
        eol = match.group("eol") or "\n"
        if not self.lines[last].endswith("\n"):
            self.lines[last] += "\n"
        self.lines.insert(last + 1, f"{match.group('lead')}{change.after}{eol}")
        result.edits.append(f"{package}/{change.section}: added '{change.after}'")

    def packages_extras(self) -> bool:
        """Whether the recipe packages pip extras (`{name}-with-*` outputs)."""
        prefix = f"{self._package()}-with-"
        outputs = [o for o in self.document.get("outputs") or [] if isinstance(o, dict)]
        return any(self._expand(str(o.get("name", ""))).startswith(prefix) for o in outputs)

    def add_extra(self, extra: str, lines: Converted, result: UpdateResult) -> None:
        """A new upstream extra: a `{name}-with-{extra}` output after the last output.

        A single-output meta.yaml would have to be restructured into outputs, which is not a
        text edit: the output is then handed to a human, ready to paste.
        """
        from stockyard.recipes.extras import new_extra_output, output_name

        package = self._package()
        outputs = [o for o in self.document.get("outputs") or [] if isinstance(o, dict)]
        existing = {self._expand(str(o.get("name", ""))) for o in outputs}
        name = output_name(package, extra)
        if name in existing:
            return
        main = Output(name=package, noarch="python" if self.noarch_python() else None)
        imports = self._imports(outputs)
        if imports:
            main.tests = [{"python": {"imports": imports, "pip_check": True}}]
        block = self._output_block(new_extra_output(main, extra, lines, existing))
        end = self._outputs_end()
        if end is None:
            result.needs_human.append(
                f"new extra '{extra}' upstream: this recipe has no outputs; add this output by "
                f"hand after restructuring it:\n{block}"
            )
            return
        self.lines[end:end] = block.splitlines(keepends=True)
        all_output = output_name(package, "all")
        if all_output in existing:
            spec = f'{{{{ pin_subpackage("{name}", exact=True) }}}}'
            self._add(Change(name, None, spec, "run"), result, all_output)
        result.edits.append(f"added output {name} (new extra '{extra}' upstream)")
        result.needs_human.append(f"new extra '{extra}' upstream became output {name}: review it")

    def _imports(self, outputs: list[dict[str, Any]]) -> list[str]:
        package = self._package()
        for entry in (o for o in outputs if self._expand(str(o.get("name"))) == package):
            imports = (entry.get("test") or {}).get("imports")
            if imports:
                return [str(module) for module in imports]
        imports = (self.document.get("test") or {}).get("imports")
        return [str(module) for module in imports] if imports else []

    @staticmethod
    def _output_block(output: Output) -> str:
        """The output as meta.yaml text, indented as an item of `outputs:`."""
        from stockyard.recipes.render_v0 import output_text

        text = output_text(output)
        lines = text.splitlines()
        return "".join(("  - " if i == 0 else "    ") + line + "\n" for i, line in enumerate(lines))

    def _outputs_end(self) -> int | None:
        """The line index after the last line of the top-level `outputs:` block."""
        start = next((n for n, line in enumerate(self.lines) if line.startswith("outputs:")), None)
        if start is None:
            return None
        end = start + 1
        for number in range(start + 1, len(self.lines)):
            line = self.lines[number]
            if line.strip() and not line[0].isspace() and not line.startswith(("-", "#")):
                break
            if line.strip():
                end = number + 1
        return end

    def text(self) -> str:
        return "".join(self.lines)
