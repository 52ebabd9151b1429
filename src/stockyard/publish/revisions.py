"""CEP 48 repodata revisions: which records go under the top-level `v3` key, and in what form.

CEP 43, 44 and 45 add syntax older clients reject (conda: "Cannot match on field(s): {'when'}").
CEP 43 says repodata and its derivatives MUST NOT list such records under `packages` /
`packages.conda`; CEP 48 gives them a place older clients ignore: `v3`, announced in
`info.repodata_revisions`. A record goes there when it uses any of:

- a CEP 44 `extra_depends` field (`extra-depends` in CEP 44's `index.json`), non-empty;
- a CEP 45 `flags` field, non-empty;
- a MatchSpec in `depends`, `constrains` or an `extra_depends` group with a CEP 43 `when`, CEP 44
  `extras` or CEP 45 `flags` key in its brackets.

(These are what CEP 43/44/45 bump `index.json`'s `schema_version` to 3 for; the indexer does not
keep `schema_version` in records, so the record's content decides.)

In `v3` a record is keyed by its filename without the extension, under its extension (`conda`,
`tar.bz2`), and CEP 48 constrains its MatchSpecs: a bare name when only the name is set, else
`name[key="value",...]` with only `version`, `build`, `build_number`, `when`, `extras`, `flags`.
`v3_record` rewrites the specs it can parse unambiguously (`name`, `name 1.2 build`,
`name>=1.2`, `name >=1.2,<2`, `name>=2[when="python>=3.10"]`, `name[...]`) into that form, keeping
the version and build text as written; anything else (channel or subdir selectors, globbed
names, `name=1.2=build`, other bracket keys) is kept verbatim. `extra-depends` is renamed
`extra_depends`, the name CEP 48 and rattler use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from stockyard.types.encoding import encode_json, join_json_object

V3 = "v3"

#: Artifact extension -> its `v3` key (the extension without the leading dot).
_BUCKETS = ((".conda", "conda"), (".tar.bz2", "tar.bz2"))
_SPEC_LISTS = ("depends", "constrains")
_EXTRA_DEPENDS = "extra_depends"
_CEP44_EXTRA_DEPENDS = "extra-depends"
#: The MatchSpec fields CEP 48 allows in `v3` records, in the order we write them.
_CEP48_FIELDS = ("version", "build", "build_number", "when", "extras", "flags")
_NEW_KEYS_RE = re.compile(r"[\[,]\s*(?:when|extras|flags)\s*=")
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_VERSION_PART_RE = re.compile(r"(?:==|>=|<=|!=|~=|>|<|=)?[^=<>!~,|()\s\[\]\"']+")
_BUILD_RE = re.compile(r"[A-Za-z0-9_.+*]+")
_decode = msgspec.json.Decoder().decode


#: Every record `needs_v3` contains one of these (`when=`; `extras=`, `extra_depends`,
#: `extra-depends`; `flags=`, `"flags"`).
V3_NEEDLES = (b"when=", b"extra", b"flags")


def may_need_v3(data: bytes) -> bool:
    """A byte test on encoded records: False means none of them goes under `v3`."""
    return b"when=" in data or b"extra" in data or b"flags" in data


def needs_v3(record: Mapping[str, Any]) -> bool:
    """Whether `record` uses CEP 43/44/45 syntax and so belongs under `v3`."""
    if record.get(_EXTRA_DEPENDS) or record.get(_CEP44_EXTRA_DEPENDS) or record.get("flags"):
        return True
    return any(_uses_new_keys(spec) for spec in _specs(record, _SPEC_LISTS))


def _specs(record: Mapping[str, Any], keys: Iterable[str]) -> Iterable[Any]:
    for key in keys:
        specs = record.get(key)
        if isinstance(specs, list):
            yield from specs


def _uses_new_keys(spec: Any) -> bool:
    return isinstance(spec, str) and "[" in spec and _NEW_KEYS_RE.search(spec) is not None


def v3_bucket(filename: str) -> tuple[str, str] | None:
    """(`v3` key, filename without extension) of an artifact filename."""
    for extension, bucket in _BUCKETS:
        if filename.endswith(extension):
            return bucket, filename[: -len(extension)]
    return None


def v3_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` as CEP 48 wants it under `v3` (a new dict; `record` is not changed)."""
    out = dict(record)
    if _CEP44_EXTRA_DEPENDS in out and _EXTRA_DEPENDS not in out:
        out[_EXTRA_DEPENDS] = out.pop(_CEP44_EXTRA_DEPENDS)
    for key in _SPEC_LISTS:
        if isinstance(out.get(key), list):
            out[key] = _cep48_specs(out[key])
    groups = out.get(_EXTRA_DEPENDS)
    if isinstance(groups, dict):
        out[_EXTRA_DEPENDS] = {
            group: _cep48_specs(specs) if isinstance(specs, list) else specs
            for group, specs in groups.items()
        }
    return out


def _cep48_specs(specs: list[Any]) -> list[Any]:
    return [cep48_spec(spec) if isinstance(spec, str) else spec for spec in specs]


def cep48_spec(spec: str) -> str:
    """A MatchSpec in CEP 48's form (bare name, or name plus brackets); `spec` itself when it
    cannot be rewritten without guessing."""
    text = spec.strip()
    head, fields = text, dict[str, str]()
    bracket = text.find("[")
    if bracket >= 0:
        items = _bracket_items(text[bracket + 1 : -1]) if text.endswith("]") else None
        if items is None:
            return spec
        head, fields = text[:bracket].rstrip(), items
    match = _NAME_RE.match(head)
    outer = _version_and_build(head[match.end() :]) if match else None
    if match is None or outer is None or not outer.keys().isdisjoint(fields):
        return spec
    fields.update(outer)
    if not fields.keys() <= set(_CEP48_FIELDS):
        return spec
    parts = [_field(key, fields[key]) for key in _CEP48_FIELDS if key in fields]
    written = [part for part in parts if part is not None]
    if len(written) < len(parts):
        return spec
    return match.group() + (f"[{','.join(written)}]" if written else "")


def _version_and_build(rest: str) -> dict[str, str] | None:
    """The version and build after the name (`" 1.2 build"`, `">=1.2"`); None when unclear."""
    if not rest:
        return {}
    if not (rest[0].isspace() or rest[0] in "<>=!~"):
        return None
    tokens = rest.split()
    if len(tokens) > 2 or not all(
        _VERSION_PART_RE.fullmatch(part) for part in re.split(r"[,|]", tokens[0])
    ):
        return None  # `name 1.2 build extra`, `name >= 1.2`, `name=1.2=build`, `name (>1|<0)`
    out = {"version": tokens[0]}
    if len(tokens) == 2:
        if not _BUILD_RE.fullmatch(tokens[1]):
            return None
        out["build"] = tokens[1]
    return out


def _bracket_items(body: str) -> dict[str, str] | None:
    """`key=value` pairs of a bracket, quotes removed from scalar values; None when unclear."""
    if not body.strip():
        return {}
    parts = _split_top_level(body)
    if parts is None:
        return None
    items: dict[str, str] = {}
    for part in parts:
        key, sep, value = (piece.strip() for piece in part.partition("="))
        if not sep or not key or not value or key in items:
            return None
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        items[key] = value
    return items


def _split_top_level(body: str) -> list[str] | None:
    """`body` split at commas outside quotes and nested brackets; None when unbalanced."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for index, char in enumerate(body):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[]":
            depth += 1 if char == "[" else -1
            if depth < 0:
                return None
        elif char == "," and depth == 0:
            parts.append(body[start:index])
            start = index + 1
    if quote or depth:
        return None
    parts.append(body[start:])
    return parts


def _field(key: str, value: str) -> str | None:
    if key in ("extras", "flags") and value.startswith("["):
        return f"{key}={value}"
    if key == "build_number" and value.isdigit():
        return f"{key}={value}"
    for quote in "\"'":
        if quote not in value:
            return f"{key}={quote}{value}{quote}"
    return None


@dataclass(slots=True)
class V3Section:
    """The `v3` records of one document, and their CEP 48 revision metadata."""

    #: filename -> (the record as written under `v3`, its `indexed_timestamp`).
    records: dict[str, tuple[bytes, Any]] = field(default_factory=dict)

    def add_if_needed(self, filename: str, record: bytes) -> bool:
        """Take the record (encoded JSON) when it belongs under `v3`; whether it was taken."""
        decoded = _decode(record)
        if v3_bucket(filename) is None or not isinstance(decoded, dict) or not needs_v3(decoded):
            return False
        encoded = encode_json(v3_record(decoded))
        self.records[filename] = (encoded, decoded.get("indexed_timestamp"))
        return True

    def add_same_as(self, other: V3Section, filename: str) -> None:
        """Take the record `other` took for `filename` (the same record in another document)."""
        self.records[filename] = other.records[filename]

    def revision(self) -> dict[str, int] | None:
        """`info.repodata_revisions["v3"]` (CEP 48): how many records, and the oldest and newest
        `indexed_timestamp` among them; None when no record went under `v3`."""
        if not self.records:
            return None
        stamps = [
            stamp
            for _encoded, stamp in self.records.values()
            if isinstance(stamp, int) and not isinstance(stamp, bool)
        ]
        out = {"n_packages": len(self.records)}
        if stamps:
            out.update(oldest=min(stamps), newest=max(stamps))
        return out

    def encoded(self) -> bytes:
        """The `"v3":{...}` member (keys sorted), or nothing when there are no `v3` records."""
        buckets: dict[str, list[tuple[str, bytes]]] = {}
        for filename, (encoded, _stamp) in self.records.items():
            place = v3_bucket(filename)
            assert place is not None
            buckets.setdefault(place[0], []).append((place[1], encoded))
        if not buckets:
            return b""
        members = (
            (bucket, join_json_object(sorted(records)))
            for bucket, records in sorted(buckets.items())
        )
        return b'"v3":' + join_json_object(members)
