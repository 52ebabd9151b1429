"""Text rules of the patch YAML format: conda-forge's glob dialect and `${key}` templates.

Globs are Python `fnmatch` patterns (`*`, `?`, `[seq]`, `[!seq]`), always case-sensitive, plus
the extended-glob piece `?( *)`: nothing, or a space followed by anything. `numpy?( *)` matches
`numpy` and `numpy >=1.20` but not `numpy-base`. A pattern without glob characters is an exact
comparison.

Templates are `string.Template` strings: `$key` or `${key}` with the keys in `TEMPLATE_KEYS`
(plus `old` in `replace_*.new`), `$$` for a literal `$`. As in conda-forge's engine, a string is
treated as a template only when it names one of the allowed keys; otherwise it is used verbatim.
Unlike conda-forge, a placeholder naming any other key, or a `$` that starts no placeholder, is an
error when the rule is compiled instead of a crash (or a silently literal `$`) later.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

#: The record values a template may use (conda-forge's `ALLOWED_TEMPLATE_KEYS`).
TEMPLATE_KEYS: Final = (
    "name",
    "version",
    "build_number",
    "build",
    "subdir",
    "next_version",
    "major_version",
    "minor_version",
    "patch_version",
)
#: `replace_depends` / `replace_constrains` may also refer to the entry being replaced.
OLD_KEY: Final = "old"

OPTIONAL_TAIL: Final = "?( *)"
_GLOB_CHARS: Final = frozenset("*?[")
_OPTIONAL_TAIL_RE: Final = "(?: .*)?"
_MEMO_LIMIT: Final = 4096


class TemplateError(ValueError):
    """A template is malformed, or cannot be rendered for a record."""


def is_glob(pattern: str) -> bool:
    """Whether `pattern` has any glob character (`*`, `?`, `[`; `?( *)` starts with `?`)."""
    return any(char in _GLOB_CHARS for char in pattern)


def literal_prefix(pattern: str) -> str:
    """The part of `pattern` before its first glob character or `$` (a template may follow)."""
    for index, char in enumerate(pattern):
        if char in _GLOB_CHARS or char == "$":
            return pattern[:index]
    return pattern


def _fnmatch_body(part: str) -> str:
    """`fnmatch.translate(part)` without its end anchor, so pieces can be joined."""
    translated = fnmatch.translate(part)
    for anchor in ("\\Z", "\\z"):
        if translated.endswith(anchor):
            return translated[: -len(anchor)]
    raise AssertionError(f"unexpected fnmatch.translate output {translated!r}")  # pragma: no cover


@functools.lru_cache(maxsize=65536)
def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate matching whole strings against `pattern` (see the module docstring)."""
    if not is_glob(pattern):
        return pattern.__eq__
    regex = _OPTIONAL_TAIL_RE.join(_fnmatch_body(part) for part in pattern.split(OPTIONAL_TAIL))
    match = re.compile(regex + r"\Z", re.DOTALL).match
    # The same dependency strings come up again and again: remember the answers.
    seen: dict[str, bool] = {}

    def matches(text: str) -> bool:
        found = seen.get(text)
        if found is None:
            found = match(text) is not None
            if len(seen) >= _MEMO_LIMIT:
                seen.clear()
            seen[text] = found
        return found

    return matches


def glob_match(text: str, pattern: str) -> bool:
    """Whether `text` matches `pattern` as a whole."""
    return glob_matcher(pattern)(text)


def any_glob_match(text: str, patterns: tuple[str, ...]) -> bool:
    """Whether `text` matches any of `patterns`."""
    return any(glob_matcher(pattern)(text) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class Template:
    """A string of a `then` action, rendered for each record it is applied to."""

    text: str
    #: The keys it uses, found as conda-forge finds them (`$key` or `${key}` in the text);
    #: empty when the text is used verbatim.
    keys: tuple[str, ...]
    compiled: string.Template | None

    def render(self, record: Mapping[str, Any], subdir: str, old: str | None = None) -> str:
        """The text with the record's values in; raises TemplateError when one is missing."""
        if self.compiled is None:
            return self.text
        values = {key: _template_value(key, record, subdir, old) for key in self.keys}
        try:
            return self.compiled.substitute(values)
        except (KeyError, ValueError) as exc:  # pragma: no cover - checked when compiled
            raise TemplateError(f"cannot render {self.text!r}: {exc}") from exc


def compile_template(text: str, *, allow_old: bool = False) -> Template:
    """Check `text`'s placeholders and prepare it; raises TemplateError naming the bad one."""
    allowed = (*TEMPLATE_KEYS, OLD_KEY) if allow_old else TEMPLATE_KEYS
    for match in string.Template.pattern.finditer(text):
        named = match.group("named") or match.group("braced")
        if match.group("invalid") is not None:
            raise TemplateError(
                f"{text!r}: '$' at position {match.start('invalid')} starts no template "
                "(write $$ for a literal '$')"
            )
        if named is not None and named not in allowed:
            extra = "" if allow_old or named != OLD_KEY else " (${old} only in replace_*.new)"
            raise TemplateError(
                f"{text!r}: unknown template key {named!r}{extra}; known keys: {', '.join(allowed)}"
            )
    keys = tuple(key for key in allowed if f"${key}" in text or f"${{{key}}}" in text)
    return Template(text, keys, string.Template(text) if keys else None)


def _version_part(version: str, index: int) -> str:
    parts = version.split(".")
    return parts[index] if index < len(parts) else "0"


def _next_version(version: str) -> str:
    parts = version.split(".")
    try:
        parts[-1] = str(int(parts[-1]) + 1)
    except ValueError:
        raise TemplateError(
            f"${{next_version}} needs a version whose last part is a number, got {version!r}"
        ) from None
    return ".".join(parts)


def _template_value(key: str, record: Mapping[str, Any], subdir: str, old: str | None) -> str:
    if key == "subdir":
        return subdir
    if key == OLD_KEY:
        return old if old is not None else ""
    if key in ("next_version", "major_version", "minor_version", "patch_version"):
        version = record.get("version")
        if not isinstance(version, str):
            raise TemplateError(f"${{{key}}} needs the record's version, which it lacks")
        if key == "next_version":
            return _next_version(version)
        return _version_part(
            version, ("major_version", "minor_version", "patch_version").index(key)
        )
    if key not in record:
        raise TemplateError(f"${{{key}}} names a key the record lacks")
    return str(record[key])
