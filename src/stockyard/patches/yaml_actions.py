"""`then` actions of the patch YAML format, compiled into functions that edit a record.

An action mutates a record the engine owns (its `depends` and `constrains` lists are copies).
The semantics are conda-forge's (`_apply_patch_yaml` and helpers), written down in
docs/specs/patch-yaml.md, including its corner cases: `replace_*` walks the list while editing
it, so the entry after one it drops is not looked at; `tighten_depends` / `loosen_depends` act on
every entry of a matching name once per matching entry; `loosen_depends` compares the bounds'
parts as strings. Where conda-forge stores `None` (a list emptied by `remove_*`, no track
feature left), the key is deleted: that is what the generated instructions (`null`) do to the
record under conda-index semantics.

Each action also says which records it can change at all (its trigger): `replace_depends` with
`old: numpy 1.*` changes nothing in a record without a `numpy` dependency. The rule index uses
that to skip rules (yaml_rules). An action with no trigger may change any record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from stockyard.patches.yaml_conditions import as_list, parse_version, track_features_of
from stockyard.patches.yaml_text import (
    OPTIONAL_TAIL,
    Template,
    compile_template,
    glob_matcher,
    literal_prefix,
)

#: Edits a record in place; returns whether its `depends`, `constrains` or `track_features`
#: changed.
Run = Callable[[dict[str, Any], str], bool]

#: An exact pin is `name version build` whose version starts with none of these.
_OPERATORS: Final = ("==", ">=", "<=", ">", "<", "!=")
#: `>=lower,<upperA0`, conda-build's pin_compatible form; and `>=lower` without an upper bound.
_PIN_RE: Final = re.compile(r"^>=(?P<lower>\d+(\.\d+)*a?),<(?P<upper>\d+(\.\d+)*)a0$")
_LOWER_ONLY_RE: Final = re.compile(r"^>=(?P<lower>\d+(\.\d+)*a?)[^<*]*$")


class ActionError(ValueError):
    """An action cannot compute its result for a record (e.g. a bound of a non-numeric pin)."""


@dataclass(frozen=True, slots=True)
class EntryTrigger:
    """The record's `field` list has an entry named `name` (or whose text starts with
    `prefix`) that also matches the glob `pattern` (over the entry) and `name_pattern` (over
    its name), when given."""

    field: str
    name: str | None = None
    prefix: str | None = None
    pattern: str | None = None
    name_pattern: str | None = None

    def accepts(self, entry: str) -> bool:
        """Whether `entry` satisfies the trigger."""
        if self.name is not None and entry_name(entry) != self.name:
            return False
        if self.prefix is not None and not entry.startswith(self.prefix):
            return False
        if self.pattern is not None and not glob_matcher(self.pattern)(entry):
            return False
        return self.name_pattern is None or glob_matcher(self.name_pattern)(entry_name(entry))


@dataclass(frozen=True, slots=True)
class TrackFeaturesTrigger:
    """The record has a `track_features` value (not null)."""


Trigger = EntryTrigger | TrackFeaturesTrigger


@dataclass(frozen=True, slots=True)
class Action:
    key: str
    run: Run
    #: None when the action may change any record.
    trigger: Trigger | None


def entry_name(entry: str) -> str:
    """The package name of a depends/constrains entry (its text up to the first space)."""
    return entry.split(" ", 1)[0]


def spec_trigger(field: str, pattern: str) -> EntryTrigger | None:
    """Which entries a glob over whole entries (`numpy >=1.*`, `numpy?( *)`) can match; a
    template (`$`) is only known up to its first placeholder."""
    prefix = literal_prefix(pattern)
    check = None if "$" in pattern else pattern
    if " " in prefix:
        return EntryTrigger(field, name=entry_name(prefix), pattern=check)
    if prefix == pattern or pattern == prefix + OPTIONAL_TAIL:
        return EntryTrigger(field, name=prefix, pattern=check) if prefix else None
    return EntryTrigger(field, prefix=prefix, pattern=check) if prefix else None


def name_trigger(field: str, pattern: str, *, glob: bool) -> EntryTrigger | None:
    """Which entries a name (a glob when `glob`, else compared exactly) can match."""
    prefix = literal_prefix(pattern)
    if prefix == pattern:
        return EntryTrigger(field, name=pattern)
    check = pattern if glob and "$" not in pattern else None
    return EntryTrigger(field, prefix=prefix, name_pattern=check) if prefix else None


def _entries(record: dict[str, Any], field: str) -> list[Any] | None:
    entries = record.get(field)
    return entries if isinstance(entries, list) else None


# --- add / remove / reset -----------------------------------------------------------------------


def _add(field: str, templates: tuple[Template, ...]) -> Run:
    def run(record: dict[str, Any], subdir: str) -> bool:
        values = [template.render(record, subdir) for template in templates]
        entries = _entries(record, field)
        changed = entries is None
        if entries is None:
            entries = []
        for value in values:
            if value not in entries:
                entries.append(value)
                changed = True
        record[field] = entries
        return changed

    return run


def _remove(field: str, patterns: tuple[str, ...]) -> Run:
    matchers = tuple(glob_matcher(pattern) for pattern in patterns)

    def run(record: dict[str, Any], subdir: str) -> bool:
        entries = _entries(record, field)
        if entries is None:
            return False
        doomed = {
            entry
            for match in matchers
            for entry in entries
            if isinstance(entry, str) and match(entry)
        }
        for entry in doomed:
            entries.remove(entry)  # the first occurrence, as conda-forge does
        if not entries:
            del record[field]
            return True
        return bool(doomed)

    return run


def _reset(field: str, templates: tuple[Template, ...]) -> Run:
    def run(record: dict[str, Any], subdir: str) -> bool:
        values = [template.render(record, subdir) for template in templates]
        changed = record.get(field) != values
        record[field] = values
        return changed

    return run


def _add_track_features(features: tuple[str, ...]) -> Run:
    def run(record: dict[str, Any], subdir: str) -> bool:
        for feature in features:
            record["track_features"] = " ".join([*track_features_of(record), feature])
        return True

    return run


def _remove_track_features(patterns: tuple[str, ...]) -> Run:
    matchers = tuple(glob_matcher(pattern) for pattern in patterns)

    def run(record: dict[str, Any], subdir: str) -> bool:
        before = record.get("track_features")
        if before is None:
            return False
        for match in matchers:
            kept = [feature for feature in track_features_of(record) if not match(feature)]
            if not kept:
                del record["track_features"]
                return True
            record["track_features"] = " ".join(kept)
        return bool(record["track_features"] != before)

    return run


# --- replace / rename / relax -------------------------------------------------------------------


def _replace(field: str, old: Template, new: Template) -> Run:
    def run(record: dict[str, Any], subdir: str) -> bool:
        entries = _entries(record, field)
        if entries is None:
            return False
        match = glob_matcher(old.render(record, subdir))
        changed = False
        position = 0
        # Walk the live list like conda-forge's `for dep in list` does while it edits the list.
        while position < len(entries):
            entry = entries[position]
            position += 1
            if not isinstance(entry, str) or not match(entry):
                continue
            replacement = new.render(record, subdir, old=entry)
            index = entries.index(entry)
            if replacement not in entries:
                entries[index] = replacement
                changed = True
            elif replacement != entry:
                del entries[index]
                changed = True
        return changed

    return run


def _rename(field: str, old: Template, new: Template) -> Run:
    def run(record: dict[str, Any], subdir: str) -> bool:
        entries = _entries(record, field)
        if entries is None:
            return False
        old_name = old.render(record, subdir)
        new_name = new.render(record, subdir)
        for index, entry in enumerate(entries):
            if isinstance(entry, str) and entry_name(entry) == old_name:
                entries[index] = new_name + entry[len(old_name) :]
                return new_name != old_name
        return False

    return run


def _pad(parts: list[str], length: int) -> list[str]:
    return parts + ["0"] * (length - len(parts)) if len(parts) < length else parts


def upper_bound_for(version: str, max_pin: str) -> str:
    """The exclusive upper bound `max_pin` ('x', 'x.x'...) gives `version` (1.2.3, x.x -> 1.3.0)."""
    count = max_pin.count("x")
    parts = _pad(version.split("."), count)
    parts[count:] = ["0"] * (len(parts) - count)
    try:
        parts[count - 1] = str(int(parts[count - 1]) + 1)
    except ValueError:
        raise ActionError(
            f"cannot compute an upper bound of {version!r} with max_pin {max_pin!r}"
        ) from None
    return ".".join(parts)


def _relax_exact(name: Template, max_pin: str | None) -> Run:
    def run(record: dict[str, Any], subdir: str) -> bool:
        entries = _entries(record, "depends")
        if entries is None:
            return False
        wanted = name.render(record, subdir)
        for index, entry in enumerate(entries):
            if isinstance(entry, str) and entry_name(entry) == wanted:
                parts = entry.split(" ")
                if len(parts) == 3 and not parts[1].startswith(_OPERATORS):
                    bound = f",<{upper_bound_for(parts[1], max_pin)}a0" if max_pin else ""
                    entries[index] = f"{parts[0]} >={parts[1]}{bound}"
                    return bool(entries[index] != entry)
                return False
        return False

    return run


# --- tighten / loosen ---------------------------------------------------------------------------


def _zero_terminated(parts: list[str]) -> list[str]:
    return parts if parts[-1] == "0" else [*parts, "0"]


def _version_order(left: str, right: str) -> int:
    """-1, 0 or 1 as conda orders two versions; ActionError when one does not parse."""
    first, second = parse_version(left), parse_version(right)
    if first is None or second is None:
        bad = left if first is None else right
        raise ActionError(f"{bad!r} is not a version")
    return -1 if first < second else int(first > second)


def _with_build(text: str, parts: list[str]) -> str:
    return f"{text} {parts[2]}" if len(parts) == 3 else text


def _indices_named(entries: list[Any], name: str) -> list[int]:
    return [
        index
        for index, entry in enumerate(entries)
        if isinstance(entry, str) and entry_name(entry) == name
    ]


class _Tightener:
    """conda-forge's `_pin_stricter` for one entry name; `upper_bound` gains a trailing `.0`
    the first time a bare or `<` entry uses it, and keeps it for the later entries."""

    def __init__(self, max_pin: str | None, upper_bound: str | None) -> None:
        self.max_pin = max_pin
        self.upper_bound = upper_bound

    def _fixed_bound(self) -> str:
        assert self.upper_bound is not None
        self.upper_bound = ".".join(_zero_terminated(self.upper_bound.split(".")))
        return self.upper_bound

    def _new_upper(self, lower: str) -> list[str]:
        if self.upper_bound is not None:
            return self.upper_bound.split(".")
        if self.max_pin is None:  # pragma: no cover - refused when compiled
            raise ActionError("tighten_depends needs max_pin or upper_bound")
        return upper_bound_for(lower, self.max_pin).split(".")

    def entry(self, parts: list[str]) -> str | None:
        """The tightened entry, or None to leave it."""
        if len(parts) == 1:
            return None if self.upper_bound is None else f"{parts[0]} <{self._fixed_bound()}a0"
        if len(parts) not in (2, 3):
            return None
        if found := _LOWER_ONLY_RE.match(parts[1]):
            lower = found.group("lower")
            new_upper = self._new_upper(lower)
            lower_parts = _pad(lower.split("."), len(new_upper))
            new_upper = _pad(new_upper, len(lower_parts))
            if _version_order(".".join(lower_parts), ".".join(new_upper)) < 0:
                bound = ".".join(_zero_terminated(new_upper))
                return _with_build(f"{parts[0]} {parts[1]},<{bound}a0", parts)
            return None
        if found := _PIN_RE.match(parts[1]):
            lower, upper = found.group("lower"), found.group("upper").split(".")
            new_upper = self._new_upper(lower)
            upper = _pad(upper, len(new_upper))
            new_upper = _pad(new_upper, len(upper))
            if _version_order(".".join(upper), ".".join(new_upper)) > 0:
                bound = ".".join(_zero_terminated(new_upper))
                return _with_build(f"{parts[0]} >={lower},<{bound}a0", parts)
            return None
        if len(parts) == 2 and parts[1].startswith("<") and self.upper_bound is not None:
            bound = self._fixed_bound()
            old = parts[1].split("<")[1]
            # `<=15` may become `<15.0a0`, hence >= there.
            order = _version_order(old[1:], bound) if old.startswith("=") else None
            wider = order >= 0 if order is not None else _version_order(old, bound) > 0
            return f"{parts[0]} <{bound}a0" if wider else None
        return None


def _loosened(parts: list[str], max_pin: str | None, upper_bound: str | None) -> str | None:
    """conda-forge's `_pin_looser` for one entry: only `>=lower,<upperA0` pins change."""
    if len(parts) not in (2, 3):
        return None
    found = _PIN_RE.match(parts[1])
    if found is None:
        return None
    lower, upper = found.group("lower"), found.group("upper").split(".")
    if (upper_bound is None or upper_bound == "None") and max_pin is None:
        return _with_build(f"{parts[0]} >={lower}", parts)
    if upper_bound is None:
        assert max_pin is not None
        new_upper = upper_bound_for(lower, max_pin).split(".")
    else:
        new_upper = upper_bound.split(".")
    upper = _pad(upper, len(new_upper))
    new_upper = _pad(new_upper, len(upper))
    # conda-forge compares the parts as strings ('10' < '9'); kept for identical results.
    if tuple(upper) < tuple(new_upper):
        bound = ".".join(_zero_terminated(new_upper))
        return _with_build(f"{parts[0]} >={lower},<{bound}a0", parts)
    return None


def _repin(name: Template, max_pin: str | None, upper_bound: Template | None, tighten: bool) -> Run:
    def run(record: dict[str, Any], subdir: str) -> bool:
        entries = _entries(record, "depends")
        if entries is None:
            return False
        match = glob_matcher(name.render(record, subdir))
        bound = upper_bound.render(record, subdir) if upper_bound is not None else None
        changed = False
        # The list keeps its length; a later entry of a name already handled is handled again.
        for position in range(len(entries)):
            entry = entries[position]
            if not isinstance(entry, str) or not match(entry_name(entry)):
                continue
            dep_name = entry_name(entry)
            tightener = _Tightener(max_pin, bound) if tighten else None
            for index in _indices_named(entries, dep_name):
                parts = entries[index].split(" ")
                if tightener is not None:
                    repinned = tightener.entry(parts)
                else:
                    repinned = _loosened(parts, max_pin, bound)
                if repinned is not None and repinned != entries[index]:
                    entries[index] = repinned
                    changed = True
        return changed

    return run


# --- compiling ----------------------------------------------------------------------------------


def _templates(value: Any) -> tuple[Template, ...]:
    return tuple(compile_template(text) for text in as_list(value))


def _untemplated(value: Any) -> tuple[str, ...]:
    """Values conda-forge never renders (remove_*, *_track_features): a `$` there is a mistake."""
    values = as_list(value)
    for text in values:
        if "$" in text:
            raise ActionError(
                f"{text!r}: templates are not rendered in this action (its values are used "
                "as written)"
            )
    return values


def _compile_specs(key: str, value: Any) -> tuple[Run, Trigger | None]:
    verb, _, field = key.partition("_")
    if key == "add_track_features":
        return _add_track_features(_untemplated(value)), None
    if key == "remove_track_features":
        return _remove_track_features(_untemplated(value)), TrackFeaturesTrigger()
    if verb == "add":
        return _add(field, _templates(value)), None
    if verb == "remove":
        # An emptied list is deleted even when nothing matched: no trigger.
        return _remove(field, _untemplated(value)), None
    return _reset(field, _templates(value)), None


def _compile_old_new(key: str, value: dict[str, Any]) -> tuple[Run, Trigger | None]:
    verb, _, field = key.partition("_")
    old = compile_template(value["old"])
    if verb == "replace":
        new = compile_template(value["new"], allow_old=True)
        return _replace(field, old, new), spec_trigger(field, old.text)
    new = compile_template(value["new"])
    return _rename(field, old, new), name_trigger(field, old.text, glob=False)


def _compile_pin(key: str, value: dict[str, Any]) -> tuple[Run, Trigger | None]:
    name = compile_template(value["name"])
    max_pin: str | None = value.get("max_pin")
    raw_bound = value.get("upper_bound")
    if key == "relax_exact_depends":
        return _relax_exact(name, max_pin), name_trigger("depends", name.text, glob=False)
    trigger = name_trigger("depends", name.text, glob=True)
    if key == "tighten_depends" and max_pin is None and raw_bound is None:
        raise ActionError("tighten_depends needs max_pin or upper_bound")
    bound = compile_template(str(raw_bound)) if raw_bound is not None else None
    return _repin(name, max_pin, bound, key == "tighten_depends"), trigger


def compile_action(key: str, value: Any, kind: str) -> Action:
    """One action of a `then` item (validated by the model); raises ActionError or
    TemplateError for what the schema cannot say."""
    if kind == "specs":
        run, trigger = _compile_specs(key, value)
    elif kind == "old_new":
        run, trigger = _compile_old_new(key, value)
    else:
        run, trigger = _compile_pin(key, value)
    return Action(key, run, trigger)
