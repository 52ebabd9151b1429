"""`if` conditions of the patch YAML format, compiled into predicates.

A predicate takes `(record, subdir, filename)`: `subdir` is the subdir being patched and
`filename` the artifact's filename. Semantics (conda-forge's `_test_patch_yaml`, docs/specs/
patch-yaml.md):

- `<field>: value`: glob match of `str(record[field])`; for `version` without glob characters
  (`*?[]()`) an equality of conda versions (`1.6` equals `1.6.0`).
- `<field>_in: value or list`: glob match against any of them (`version_in` is a glob match too).
  `subdir_in` tests the subdir being patched, `artifact_in` the filename.
- `<field>_eq` / `_ne`: plain equality; versions as conda versions, integer fields as integers.
- `<field>_lt` / `_le` / `_gt` / `_ge`: conda version ordering for `version` (py-rattler),
  integers for `build_number`, `size`, `timestamp` (a record without `timestamp` counts as 0).
- `has_depends` / `has_constrains`: every pattern matches some entry of the list;
  `has_track_features`: every pattern matches some feature of `track_features` (space-separated).
- `not_<condition>`: the negation.

Where conda-forge's engine raises (a record lacking the field, a version PEP 440 cannot parse),
a condition is false (and its `not_` form true); a record without `subdir` is tested with the
subdir being patched. The name conditions (`name`, `name_eq`, `name_ne`, `name_in`) are kept apart:
the rule index evaluates them once per package name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from rattler import Version
from rattler.exceptions import InvalidVersionError

from stockyard.patches.yaml_model import INTEGER_FIELDS, NEGATION, ORDER_OPS, VERSION_FIELD
from stockyard.patches.yaml_text import any_glob_match, glob_matcher, is_glob

Predicate = Callable[[Mapping[str, Any], str, str], bool]

_OPS: Final = ("eq", "ne", "in", *ORDER_OPS)
#: conda-forge compares `version: X` as versions unless X has one of these.
_VERSION_GLOB_CHARS: Final = frozenset("*[]?()")
_MISSING: Final = object()
_version_cache: dict[str, Version | None] = {}


class ConditionError(ValueError):
    """A condition's value cannot be used (e.g. a version that does not parse)."""


def parse_version(text: str) -> Version | None:
    """A conda version, or None when `text` is not one (cached: versions repeat a lot)."""
    try:
        return _version_cache[text]
    except KeyError:
        pass
    try:
        version: Version | None = Version(text)
    except InvalidVersionError:
        version = None
    if len(_version_cache) > 200_000:
        _version_cache.clear()
    _version_cache[text] = version
    return version


def _record_version(record: Mapping[str, Any]) -> Version | None:
    value = record.get(VERSION_FIELD)
    return parse_version(value) if isinstance(value, str) else None


def as_list(value: Any) -> tuple[str, ...]:
    """A condition or action value as a tuple of strings (a scalar is a list of one)."""
    values = value if isinstance(value, list) else [value]
    return tuple(str(item) for item in values)


@dataclass(frozen=True, slots=True)
class Condition:
    """One compiled `if` key."""

    key: str
    field: str
    negated: bool
    #: The condition, negation included.
    check: Predicate
    #: Cheap conditions are tested first (evaluation order never changes the outcome).
    cost: int

    def __call__(self, record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        return self.check(record, subdir, filename)


def _negation(test: Predicate) -> Predicate:
    return lambda record, subdir, filename: not test(record, subdir, filename)


def split_key(key: str) -> tuple[bool, str, str]:
    """(negated, field, op) of an `if` key; op is '' for the bare form."""
    negated = key.startswith(NEGATION)
    base = key[len(NEGATION) :] if negated else key
    if base in ("has_depends", "has_constrains", "has_track_features", "artifact_in"):
        return negated, base, ""
    field, _, op = base.rpartition("_")
    if field and op in _OPS:
        return negated, field, op
    return negated, base, ""


def compile_condition(key: str, value: Any) -> Condition:
    """A predicate for one `if` key (validated by the model); raises ConditionError."""
    negated, field, op = split_key(key)
    if field in ("has_depends", "has_constrains"):
        test, cost = _has_entries(field[len("has_") :], as_list(value)), 3
    elif field == "has_track_features":
        test, cost = _has_track_features(as_list(value)), 3
    elif field == "artifact_in":
        test, cost = _filename_in(as_list(value)), 0
    elif field == "subdir" and op == "in":
        test, cost = _subdir_in(as_list(value)), 0
    elif op == "in":
        test, cost = _field_in(field, as_list(value)), 1
    elif op == "":
        test, cost = _field_glob(field, value), 1
    elif field == VERSION_FIELD:
        test, cost = _version_compare(op, value), 2
    elif field in INTEGER_FIELDS:
        test, cost = _integer_compare(field, op, value), 1
    else:
        test, cost = _string_compare(field, op, value), 1
    return Condition(key, field, negated, _negation(test) if negated else test, cost)


def _has_entries(list_key: str, patterns: tuple[str, ...]) -> Predicate:
    matchers = tuple(glob_matcher(pattern) for pattern in patterns)

    def test(record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        entries = record.get(list_key)
        if not isinstance(entries, list):
            return False
        texts = [entry for entry in entries if isinstance(entry, str)]
        return all(any(match(entry) for entry in texts) for match in matchers)

    return test


def track_features_of(record: Mapping[str, Any]) -> list[str]:
    """The record's track_features as a list (the repodata value is a space-separated string)."""
    value = record.get("track_features")
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def _has_track_features(patterns: tuple[str, ...]) -> Predicate:
    matchers = tuple(glob_matcher(pattern) for pattern in patterns)

    def test(record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        features = track_features_of(record)
        return all(any(match(feature) for feature in features) for match in matchers)

    return test


def _filename_in(patterns: tuple[str, ...]) -> Predicate:
    if not any(is_glob(pattern) for pattern in patterns):
        names = frozenset(patterns)
        return lambda record, subdir, filename: filename in names
    return lambda record, subdir, filename: any_glob_match(filename, patterns)


def _subdir_in(patterns: tuple[str, ...]) -> Predicate:
    return lambda record, subdir, filename: any_glob_match(subdir, patterns)


def _field_value(record: Mapping[str, Any], field: str, subdir: str) -> Any:
    value = record.get(field, _MISSING)
    if value is _MISSING and field == "subdir":
        return subdir
    return value


def _field_in(field: str, patterns: tuple[str, ...]) -> Predicate:
    def test(record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        value = _field_value(record, field, subdir)
        return value is not _MISSING and any_glob_match(str(value), patterns)

    return test


def _field_glob(field: str, value: Any) -> Predicate:
    pattern = str(value)
    if field == VERSION_FIELD and not _VERSION_GLOB_CHARS.intersection(pattern):
        return _version_compare("eq", pattern)
    match = glob_matcher(pattern)

    def test(record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        found = _field_value(record, field, subdir)
        return found is not _MISSING and match(str(found))

    return test


def _checked_version(value: Any) -> Version:
    version = parse_version(str(value))
    if version is None:
        raise ConditionError(f"{value!r} is not a conda version")
    return version


def _version_compare(op: str, value: Any) -> Predicate:
    bound = _checked_version(value)
    compare = _COMPARE[op]

    def test(record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        version = _record_version(record)
        return version is not None and compare(version, bound)

    return test


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    try:
        return int(str(value))
    except ValueError:
        return None


def _integer_compare(field: str, op: str, value: Any) -> Predicate:
    bound = _as_int(value)
    if bound is None:
        raise ConditionError(f"{value!r} is not an integer")
    compare = _COMPARE[op]
    default = 0 if field == "timestamp" else None

    def test(record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        found = _as_int(record.get(field, default))
        return found is not None and compare(found, bound)

    return test


def _string_compare(field: str, op: str, value: Any) -> Predicate:
    expected = str(value)
    equal = op == "eq"

    def test(record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        found = _field_value(record, field, subdir)
        if found is _MISSING:
            return False
        return (found == expected) is equal

    return test


_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "lt": lambda a, b: bool(a < b),
    "le": lambda a, b: bool(a <= b),
    "gt": lambda a, b: bool(a > b),
    "ge": lambda a, b: bool(a >= b),
    "eq": lambda a, b: bool(a == b),
    "ne": lambda a, b: bool(a != b),
}
