"""Our msgspec model of patch YAML documents is the maintainers' JSON Schema
(tests/data/conda-forge-patches/recipe/patch_yaml_model.json): same keys, same value types, and
the same verdict on every real document and on invalid ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from stockyard.patches.yaml_model import (
    ACTION_KEYS,
    CONDITION_KEYS,
    PatchYamlDocument,
    validate_document,
)
from stockyard.types.errors import InvalidMetadata

DATA = Path(__file__).resolve().parents[1] / "data" / "conda-forge-patches" / "recipe"
SCHEMA: dict[str, Any] = json.loads((DATA / "patch_yaml_model.json").read_text())
_IGNORED = {"title", "description", "default"}


def _normal(node: Any, defs: dict[str, Any]) -> Any:
    """A schema node with references resolved and documentation dropped."""
    if isinstance(node, list):
        return [_normal(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _normal(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    return {key: _normal(value, defs) for key, value in node.items() if key not in _IGNORED}


def _ours() -> dict[str, Any]:
    schema = msgspec.json.schema(PatchYamlDocument)
    return _normal(schema, schema["$defs"])


def _theirs() -> dict[str, Any]:
    return _normal(SCHEMA, SCHEMA["$defs"])


def test_same_keys() -> None:
    theirs = SCHEMA["$defs"]
    assert set(theirs["_IfClause"]["properties"]) == CONDITION_KEYS
    assert set(theirs["_ThenClauseItem"]["properties"]) == ACTION_KEYS
    assert len(CONDITION_KEYS) == 168


def test_same_types_key_by_key() -> None:
    ours, theirs = _ours(), _theirs()
    assert ours["required"] == theirs["required"] == ["if", "then"]
    assert ours["additionalProperties"] is theirs["additionalProperties"] is False
    our_if, their_if = ours["properties"]["if"], theirs["properties"]["if"]
    assert our_if["additionalProperties"] is their_if["additionalProperties"] is False
    for key, kind in their_if["properties"].items():
        assert our_if["properties"][key] == kind, key
    our_then, their_then = ours["properties"]["then"], theirs["properties"]["then"]
    assert our_then["minItems"] == their_then["minItems"] == 1
    for key, kind in their_then["items"]["properties"].items():
        assert our_then["items"]["properties"][key] == kind, key


def _documents() -> list[tuple[str, int, Any]]:
    out = []
    for path in sorted(DATA.glob("patch_yaml/*.yaml")):
        for index, document in enumerate(yaml.safe_load_all(path.read_text())):
            if document is not None:
                out.append((path.name, index, document))
    return out


INVALID: list[Any] = [
    {"if": {}},
    {"then": [{"add_depends": "x"}]},
    {"if": {"version": 1.1}, "then": [{"add_depends": "x"}]},
    {"if": {"build_number_lt": "3"}, "then": [{"add_depends": "x"}]},
    {"if": {"build_number_in": [-1]}, "then": [{"add_depends": "x"}]},
    {"if": {"subdir_in": [""]}, "then": [{"add_depends": "x"}]},
    {"if": {"name_lt": "a"}, "then": [{"add_depends": "x"}]},
    {"if": {"depends": "a"}, "then": [{"add_depends": "x"}]},
    {"if": {"has_depends": None}, "then": [{"add_depends": "x"}]},
    {"if": {}, "then": []},
    {"if": {}, "then": [{"add_depends": ["x", 1]}]},
    {"if": {}, "then": [{"replace_depends": {"old": "a", "new": "b", "x": 1}}]},
    {"if": {}, "then": [{"tighten_depends": {"max_pin": "x"}}]},
    {"if": {}, "then": [{"tighten_depends": {"name": "a", "max_pin": "x.y"}}]},
    {"if": {}, "then": [{"add_track_features": True}]},
    {"if": {}, "then": [{"add_depends": "x"}], "else": []},
]
VALID: list[Any] = [
    {"if": {}, "then": [{"add_depends": "x"}]},
    {"if": {"subdir_in": []}, "then": [{"add_depends": "x"}]},
    {"if": {"build_number_in": [1, "2*"], "timestamp": "1*"}, "then": [{"reset_depends": []}]},
    {"if": {"not_has_track_features": ["a"]}, "then": [{"loosen_depends": {"name": "a"}}]},
    {"if": {}, "then": [{"tighten_depends": {"name": "a", "upper_bound": None}}]},
    {"if": {}, "then": [{"add_depends": "x", "add_constrains": ["y"]}]},
]


def _ours_accepts(document: Any) -> bool:
    try:
        msgspec.convert(document, PatchYamlDocument)
    except msgspec.ValidationError:
        return False
    return True


def test_every_real_document_is_valid() -> None:
    documents = _documents()
    assert len(documents) == 1071
    for name, index, document in documents:
        validate_document(document, name, index)


@pytest.mark.parametrize("document", INVALID + VALID)
def test_same_verdict_as_the_json_schema(document: Any) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.validator_for(SCHEMA)
    assert _ours_accepts(document) is validator.is_valid(document)
    assert _ours_accepts(document) is (document in VALID)


def test_the_json_schema_accepts_every_real_document() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    validator = jsonschema_rs.validator_for(SCHEMA)
    assert all(validator.is_valid(document) for _, _, document in _documents())


def test_what_the_schema_allows_but_we_refuse() -> None:
    """An item without any action is allowed by the schema but does nothing: refused."""
    assert _ours_accepts({"if": {}, "then": [{}]})
    with pytest.raises(InvalidMetadata, match="an item without any action"):
        validate_document({"if": {}, "then": [{}]}, "x.yaml", 0)
