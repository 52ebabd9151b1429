"""Records aimed at patch YAML rules, so that a rule set's rules actually fire in tests.

Real repodata from other channels triggers few of conda-forge's rules; these records are real
records rewritten, for each document, to satisfy (most of) its `if` and to carry what its
actions act on: the named package, a version and build number in range, a timestamp before
its `timestamp_lt`, entries matching `has_depends`, and dependencies of the shapes the actions
rewrite (exact pins, `>=x,<ya0` pins, bare names...). Some records are deliberately near misses
(a timestamp just past the bound, the `.conda` twin of a `.tar.bz2`).
"""

from __future__ import annotations

import copy
import random
from typing import Any

from rattler import Version

_PIN_SHAPES = (
    "{} >=1.2,<2.0a0",
    "{} >=1.2.3,<1.3.0a0 h1234_0",
    "{} >=1.2",
    "{}",
    "{} <3",
    "{} <=4",
    "{} 1.2.3 h1234_0",
    "{} >=10,<11.0a0",
    "{} >=2.1.5,<3.0.0a0",
)


def concrete(pattern: str, rng: random.Random) -> str:
    """A string the glob `pattern` (with `?( *)`) matches, more or less."""
    out = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("?( *)", index):
            out.append(rng.choice(["", " 1.2.3"]))
            index += 5
            continue
        char = pattern[index]
        if char == "*":
            out.append(rng.choice(["", "1", "0.1"]))
        elif char == "?":
            out.append("1")
        elif char == "[":
            end = pattern.find("]", index + 2)
            if end == -1:
                out.append("[")
            else:
                body = pattern[index + 1 : end]
                out.append("z" if body.startswith("!") else body[0])
                index = end
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _pick(value: Any, rng: random.Random) -> str:
    return concrete(str(rng.choice(value) if isinstance(value, list) else value), rng)


def _version(conditions: dict[str, Any], rng: random.Random) -> str | None:
    for key in ("version", "version_eq", "version_in"):
        if key in conditions:
            return _pick(conditions[key], rng)
    low = conditions.get("version_ge") or conditions.get("version_gt")
    high = conditions.get("version_le") or conditions.get("version_lt")
    if low is not None:
        candidate = low if "version_ge" in conditions else f"{low}.1"
        if high is None or Version(candidate) < Version(str(high)):
            return str(candidate)
    if high is not None:
        return str(high) if "version_le" in conditions else "0.0.1"
    return None


def _number(conditions: dict[str, Any], field: str, rng: random.Random) -> int | None:
    for key in (field, f"{field}_eq", f"{field}_in"):
        if key in conditions:
            try:
                return int(_pick(conditions[key], rng).rstrip("*") or 0)
            except ValueError:
                return None
    if f"{field}_ge" in conditions or f"{field}_gt" in conditions:
        low = conditions.get(f"{field}_ge", conditions.get(f"{field}_gt", 0) + 1)
        high = conditions.get(f"{field}_lt", conditions.get(f"{field}_le", low + 2) + 1)
        return rng.randrange(low, max(low + 1, high))
    if f"{field}_lt" in conditions or f"{field}_le" in conditions:
        high = conditions.get(f"{field}_lt", conditions.get(f"{field}_le", 0) + 1)
        return max(0, high - rng.choice([1, 1000, 10**6]))
    return None


def _action_entries(actions: list[dict[str, Any]], rng: random.Random) -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {"depends": [], "constrains": []}
    for item in actions:
        for key, value in item.items():
            verb, _, field = key.partition("_")
            if verb in ("replace", "remove") and field in entries:
                for pattern in value if isinstance(value, list) else [value]:
                    old = pattern["old"] if isinstance(pattern, dict) else pattern
                    if "$" not in old:
                        entries[field].append(concrete(old, rng))
            elif verb == "rename":
                entries[field].append(
                    f"{value['old']} {rng.choice(['', '1.0', '1.0 h_0'])}".strip()
                )
            elif key in ("relax_exact_depends", "tighten_depends", "loosen_depends"):
                name = concrete(value["name"], rng)
                shapes = rng.sample(_PIN_SHAPES, 3)
                entries["depends"] += [shape.format(name) for shape in shapes]
    return entries


def target_record(
    document: dict[str, Any], base: dict[str, Any], rng: random.Random
) -> tuple[str, dict[str, Any], str]:
    """(filename, record, subdir) meant to match `document`."""
    conditions = document["if"]
    record = copy.deepcopy(base)
    for key in ("name", "name_eq", "name_in"):
        if key in conditions:
            record["name"] = _pick(conditions[key], rng)
    if (version := _version(conditions, rng)) is not None:
        record["version"] = version
    for field in ("build_number", "timestamp"):
        if (number := _number(conditions, field, rng)) is not None:
            record[field] = number
    if "build" in conditions or "build_in" in conditions:
        record["build"] = _pick(conditions.get("build", conditions.get("build_in")), rng)
    subdir = record.get("subdir", "linux-64")
    for key in ("subdir_in", "subdir"):
        if key in conditions:
            subdir = _pick(conditions[key], rng)
    record["subdir"] = subdir
    for field in ("depends", "constrains"):
        wanted = conditions.get(f"has_{field}", [])
        extra = [concrete(p, rng) for p in (wanted if isinstance(wanted, list) else [wanted])]
        record[field] = [*record.get(field, []), *extra]
    if "has_track_features" in conditions:
        record["track_features"] = _pick(conditions["has_track_features"], rng)
    for field, entries in _action_entries(document["then"], rng).items():
        record[field] = [*record.get(field, []), *entries]
    for item in document["then"]:
        if "remove_track_features" in item:
            record["track_features"] = f"x {_pick(item['remove_track_features'], rng)} y"
    if not record["constrains"]:
        del record["constrains"]
    rng.shuffle(record["depends"])
    extension = rng.choice([".tar.bz2", ".conda"])
    filename = f"{record['name']}-{record['version']}-{record.get('build', '0')}{extension}"
    if "artifact_in" in conditions:
        filename = _pick(conditions["artifact_in"], rng)
    if rng.random() < 0.1 and "timestamp_lt" in conditions:
        record["timestamp"] = conditions["timestamp_lt"]  # a near miss
    return filename, record, subdir


def target_records(
    documents: list[dict[str, Any]], bases: list[dict[str, Any]], per_document: int, seed: int
) -> list[tuple[str, dict[str, Any], str]]:
    """`per_document` records aimed at each document; the `.tar.bz2` ones also get a `.conda`
    twin, patched the same or (a third of the time) with other dependencies."""
    rng = random.Random(seed)
    out = []
    for document in documents:
        for _ in range(per_document):
            filename, record, subdir = target_record(document, rng.choice(bases), rng)
            out.append((filename, record, subdir))
            if filename.endswith(".tar.bz2"):
                twin = copy.deepcopy(record)
                if rng.random() < 0.33:
                    twin["depends"] = twin["depends"][: len(twin["depends"]) // 2]
                out.append((filename[: -len(".tar.bz2")] + ".conda", twin, subdir))
    return out
