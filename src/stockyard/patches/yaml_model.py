"""The patch YAML document model: parsing and schema validation.

A file holds YAML documents separated by `---`; each is `{if: {...}, then: [...]}`. The model is
the maintainers' JSON Schema (conda-forge-repodata-patches-feedstock, `patch_yaml_model.json`)
expressed as msgspec Structs built from one table, so both accept exactly the same documents
(tests/patches/test_yaml_model.py compares them key by key and on every real document):

- `if` keys: `[not_]<field>[_<op>]` for the record fields below, where string fields take the
  bare form (glob match), `_eq`, `_ne` and `_in`, and `build_number`, `size`, `timestamp` and
  `version` also `_lt`, `_le`, `_gt`, `_ge`; plus `[not_]has_depends`, `[not_]has_constrains`,
  `[not_]has_track_features` and `[not_]artifact_in`. `subdir_in` is the `_in` of `subdir`.
- `then` items: objects of actions (see `ACTIONS`).

Parsing uses PyYAML's safe loader (the C one when available), refusing duplicate keys in a
mapping, which PyYAML would otherwise resolve silently to the last one. Empty documents are
skipped (conda-forge skips them too) but still counted, so a document's index is its position
in the file, counting from 0.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
import yaml  # type: ignore[import-untyped]

from stockyard.types.errors import InvalidMetadata

#: String fields of a record a condition may test: bare (glob), `_eq`, `_ne`, `_in`.
STRING_FIELDS: Final = (
    "arch",
    "build",
    "legacy_bz2_md5",
    "legacy_bz2_size",
    "license",
    "license_family",
    "md5",
    "name",
    "noarch",
    "platform",
    "sha256",
    "subdir",
)
#: Integer fields: also `_lt`, `_le`, `_gt`, `_ge`; the values are compared as integers.
INTEGER_FIELDS: Final = ("build_number", "size", "timestamp")
#: Also ordered, with conda's version ordering.
VERSION_FIELD: Final = "version"
ORDER_OPS: Final = ("lt", "le", "gt", "ge")
#: Conditions on lists of a record, and on the artifact's filename.
LIST_CONDITIONS: Final = ("has_depends", "has_constrains", "has_track_features", "artifact_in")
NEGATION: Final = "not_"

#: Every action of a `then` item: (key, kind). Kinds: `specs` (a string or list of strings),
#: `old_new` ({old, new}), `pin` ({name, max_pin?, upper_bound?}).
ACTIONS: Final = (
    ("add_depends", "specs"),
    ("add_constrains", "specs"),
    ("remove_depends", "specs"),
    ("remove_constrains", "specs"),
    ("reset_depends", "specs"),
    ("reset_constrains", "specs"),
    ("remove_track_features", "specs"),
    ("add_track_features", "specs"),
    ("replace_depends", "old_new"),
    ("replace_constrains", "old_new"),
    ("rename_depends", "old_new"),
    ("rename_constrains", "old_new"),
    ("relax_exact_depends", "pin"),
    ("tighten_depends", "pin"),
    ("loosen_depends", "pin"),
)

_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
_Count = Annotated[int, msgspec.Meta(ge=0)]
_Strings = _NonEmpty | list[_NonEmpty]
_CountOrString = _Count | _NonEmpty
_CountsOrStrings = _Count | _NonEmpty | list[_Count | _NonEmpty]
_MaxPin = Annotated[str, msgspec.Meta(pattern="^[x.]+$")]


def _condition_types() -> dict[str, Any]:
    """Every positive `if` key and the type of its value, as in the maintainers' schema."""
    types: dict[str, Any] = {}
    for field in STRING_FIELDS:
        types.update({field: _NonEmpty, f"{field}_eq": _NonEmpty, f"{field}_ne": _NonEmpty})
        types[f"{field}_in"] = _Strings
    for field in INTEGER_FIELDS:
        for suffix in ("", "_eq", "_ne"):
            types[field + suffix] = _CountOrString
        types.update({f"{field}_{op}": _Count for op in ORDER_OPS})
        types[f"{field}_in"] = _CountsOrStrings
    for suffix in ("", "_eq", "_ne", *(f"_{op}" for op in ORDER_OPS)):
        types[VERSION_FIELD + suffix] = _NonEmpty
    types[f"{VERSION_FIELD}_in"] = _Strings
    types.update(dict.fromkeys(LIST_CONDITIONS, _Strings))
    return types


CONDITION_TYPES: Final = _condition_types()
#: Every key an `if` block accepts.
CONDITION_KEYS: Final = frozenset(CONDITION_TYPES) | {NEGATION + key for key in CONDITION_TYPES}
ACTION_KEYS: Final = frozenset(key for key, _ in ACTIONS)


class OldNew(msgspec.Struct, forbid_unknown_fields=True):
    old: _NonEmpty
    new: _NonEmpty


class Pin(msgspec.Struct, forbid_unknown_fields=True):
    name: _NonEmpty
    max_pin: _MaxPin | msgspec.UnsetType = msgspec.UNSET
    upper_bound: str | msgspec.UnsetType | None = msgspec.UNSET


_ACTION_TYPES: Final = {"specs": _Strings, "old_new": OldNew, "pin": Pin}


def _optional_fields(types: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(key, kind | msgspec.UnsetType, msgspec.UNSET) for key, kind in types.items()]


IfClause: Final[type[msgspec.Struct]] = msgspec.defstruct(
    "IfClause",
    _optional_fields(
        {
            **CONDITION_TYPES,
            **{NEGATION + key: kind for key, kind in CONDITION_TYPES.items()},
        }
    ),
    forbid_unknown_fields=True,
    module=__name__,
)
ThenItem: Final[type[msgspec.Struct]] = msgspec.defstruct(
    "ThenItem",
    _optional_fields({key: _ACTION_TYPES[kind] for key, kind in ACTIONS}),
    forbid_unknown_fields=True,
    module=__name__,
)
PatchYamlDocument: Final[type[msgspec.Struct]] = msgspec.defstruct(
    "PatchYamlDocument",
    [
        ("if_", IfClause),
        ("then", Annotated[list[ThenItem], msgspec.Meta(min_length=1)]),  # type: ignore[valid-type]
    ],
    rename={"if_": "if"},
    forbid_unknown_fields=True,
    module=__name__,
)


@dataclass(frozen=True, slots=True)
class PatchDocument:
    """One validated `if`/`then` document, as written (key order kept)."""

    origin: str
    #: Position of the document in its file, counting from 0 (empty documents included).
    index: int
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]

    @property
    def where(self) -> str:
        return f"{self.origin}, document {self.index}"


# --- YAML -------------------------------------------------------------------------------------

_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_Loader: Any = type("_StockyardPatchLoader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})


def _construct_mapping(loader: Any, node: Any) -> Any:
    seen: set[tuple[str, str]] = set()
    for key_node, _value in node.value:
        if key_node.tag == _MERGE_TAG or not isinstance(key_node.value, str):
            continue
        key = (key_node.tag, key_node.value)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key_node.value!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_yaml_map(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _yaml_documents(text: str, origin: str) -> Iterator[tuple[int, Any]]:
    index = 0
    try:
        for index, data in enumerate(yaml.load_all(text, Loader=_Loader)):
            yield index, data
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidMetadata(
            f"{origin}: invalid YAML{at} (in or after document {index}): {problem}",
            hint="Fix the YAML syntax; each document is an `if:` mapping and a `then:` list, "
            "separated by a line `---`.",
        ) from exc


def load_yaml_documents(text: str, origin: str) -> list[tuple[int, Any]]:
    """(index, data) of every non-empty YAML document of a file, not validated yet.

    Raises InvalidMetadata (file, line, document) for text that is not YAML.
    """
    return [(index, data) for index, data in _yaml_documents(text, origin) if data is not None]


def looks_like_patch_yaml(data: Any) -> bool:
    """Whether a parsed document is meant as a patch (a mapping with `if` or `then`)."""
    return isinstance(data, dict) and ("if" in data or "then" in data)


def parse_patch_yaml(text: str, origin: str) -> list[PatchDocument]:
    """Every non-empty document of a patch YAML file, validated.

    Raises InvalidMetadata naming the file, the document's index and the offending key.
    """
    return [
        validate_document(data, origin, index) for index, data in load_yaml_documents(text, origin)
    ]


# --- validation -------------------------------------------------------------------------------

_AT_RE: Final = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`(?: in `(?P<in>[^`]*)`)?)?$")
_UNKNOWN_RE: Final = re.compile(r"Object contains unknown field `(?P<field>[^`]*)`")
_MISSING_RE: Final = re.compile(r"Object missing required field `(?P<field>[^`]*)`")


def _error_key(message: str) -> tuple[str, str]:
    """(dotted key, reason) of a msgspec validation message."""
    match = _AT_RE.match(message)
    assert match is not None
    reason, path = match.group("reason"), match.group("path") or "$"
    if match.group("in"):
        path = match.group("in")
        reason = f"{reason} (a key that is not a string)"
    key = path[2:] if path.startswith("$.") else path.lstrip("$")
    for pattern in (_UNKNOWN_RE, _MISSING_RE):
        found = pattern.search(reason)
        if found:
            key = f"{key}.{found.group('field')}" if key else found.group("field")
    return key or "(document)", reason


def _hint_for(key: str, reason: str) -> str:
    last = key.rsplit(".", 1)[-1]
    if key.startswith("if.") and "unknown field" in reason:
        close = difflib.get_close_matches(last, sorted(CONDITION_KEYS), n=3)
        known = f"Did you mean {' or '.join(close)}? " if close else ""
        return (
            f"{known}Conditions are <field>, <field>_eq, _ne, _in, _lt, _le, _gt, _ge, "
            "has_depends, has_constrains, has_track_features, artifact_in, each also with a "
            "not_ prefix (docs/specs/patch-yaml.md)."
        )
    if key.startswith("then") and "unknown field" in reason and "." not in last:
        close = difflib.get_close_matches(last, sorted(ACTION_KEYS), n=3)
        known = f"Did you mean {' or '.join(close)}? " if close else ""
        return f"{known}Actions are: {', '.join(key for key, _ in ACTIONS)}."
    if "got `float`" in reason or "got `int`" in reason or "got `bool`" in reason:
        return (
            "Quote the value (e.g. version: '1.10'): YAML reads unquoted 1.10 as the number 1.1, "
            "and yes/no/on/off as booleans."
        )
    return (
        "Each document is `if:` (a mapping of conditions) and `then:` (a non-empty list of "
        "actions); see docs/specs/patch-yaml.md."
    )


def document_error(
    origin: str, index: int, key: str, reason: str, hint: str | None = None
) -> InvalidMetadata:
    """The error for a problem at `key` of a document."""
    return InvalidMetadata(
        f"{origin}, document {index}: {key}: {reason}", hint=hint or _hint_for(key, reason)
    )


def validate_document(data: Any, origin: str, index: int) -> PatchDocument:
    """Check one parsed document against the model and the rules the schema cannot say."""
    if not isinstance(data, dict):
        raise document_error(
            origin, index, "(document)", f"expected a mapping, got {type(data).__name__}"
        )
    try:
        msgspec.convert(data, PatchYamlDocument)
    except msgspec.ValidationError as exc:
        key, reason = _error_key(str(exc))
        raise document_error(origin, index, key, reason) from None
    actions: list[dict[str, Any]] = data["then"]
    for position, item in enumerate(actions):
        if not item:
            raise document_error(
                origin,
                index,
                f"then[{position}]",
                "an item without any action",
                hint="Give each item of `then` one action, e.g. `- add_depends: foo >=1`.",
            )
    return PatchDocument(origin, index, dict(data["if"]), actions)
