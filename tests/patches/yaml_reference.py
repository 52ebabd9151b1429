"""A straightforward reference implementation of the patch YAML format, for the tests.

Written from the specification (tests/data/conda-forge-patches/recipe/README.md) and the
behaviour of conda-forge's engine, independently of `stockyard.patches.yaml_*`: it interprets
the raw YAML documents for every record, with no compilation, index or cache, and follows
conda-forge in setting emptied values to None. It applies the differences Stockyard documents
(docs/specs/patch-yaml.md): conda version ordering (py-rattler) instead of PEP 440, a condition
on a field the record lacks is false, a record without `subdir` is tested with the subdir being
patched, values set to None are deleted at the end, and a missing list behaves like an empty
one where conda-forge's engine would crash.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import itertools
import re
import string
from pathlib import Path
from typing import Any

import yaml
from rattler import Version

TEMPLATE_KEYS = [
    "name",
    "version",
    "build_number",
    "build",
    "subdir",
    "next_version",
    "major_version",
    "minor_version",
    "patch_version",
]
OPERATORS = ["==", ">=", "<=", ">", "<", "!="]
TAIL = "?( *)"


def load_documents(path: Path) -> list[dict[str, Any]]:
    files = [path] if path.is_file() else sorted(path.glob("*.y*ml"), key=lambda p: p.name)
    documents = []
    for file in files:
        for document in yaml.safe_load_all(file.read_text()):
            if document is not None:
                documents.append(document)
    return documents


@functools.cache
def expansions(pattern: str) -> list[str]:
    """`?( *)` is nothing or ' *': every way of writing the pattern without it."""
    pieces = pattern.split(TAIL)
    return [
        pieces[0] + "".join(t + p for t, p in zip(tails, pieces[1:], strict=True))
        for tails in itertools.product(["", " *"], repeat=len(pieces) - 1)
    ]


def glob(text: str, pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(text, expanded) for expanded in expansions(pattern))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def version(text: Any) -> Version | None:
    try:
        return Version(str(text))
    except Exception:
        return None


def compare(left: Any, op: str, right: Any) -> bool:
    if left is None or right is None:
        return False
    return {
        "lt": left < right,
        "le": left <= right,
        "gt": left > right,
        "ge": left >= right,
        "eq": left == right,
        "ne": left != right,
    }[op]


def to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def test_condition(key: str, value: Any, record: dict[str, Any], subdir: str, fn: str) -> bool:
    if key.startswith("not_"):
        return not test_condition(key[4:], value, record, subdir, fn)
    values = record if "subdir" in record else {**record, "subdir": subdir}
    if key == "subdir_in":
        return any(glob(subdir, str(v)) for v in as_list(value))
    if key == "artifact_in":
        return any(glob(fn, str(v)) for v in as_list(value))
    if key in ("has_depends", "has_constrains"):
        entries = record.get(key[4:]) or []
        return all(any(glob(e, str(p)) for e in entries) for p in as_list(value))
    if key == "has_track_features":
        features = (record.get("track_features") or "").split()
        return all(any(glob(f, str(p)) for f in features) for p in as_list(value))
    for op in ("lt", "le", "gt", "ge", "eq", "ne", "in"):
        field = key[: -len(op) - 1]
        if key.endswith("_" + op) and field in (
            "version",
            "build_number",
            "size",
            "timestamp",
            *STRING_FIELDS,
        ):
            if field == "timestamp" and op != "in":
                return compare(to_int(values.get("timestamp", 0)), op, to_int(value))
            if field not in values:
                return False
            if op == "in":
                return any(glob(str(values[field]), str(v)) for v in as_list(value))
            if field == "version":
                return compare(version(values[field]), op, version(value))
            if field in ("build_number", "size"):
                return compare(to_int(values[field]), op, to_int(value))
            return (values[field] == str(value)) is (op == "eq")
    if key not in values:
        return False
    if key == "version" and not any(c in str(value) for c in "*[]?()"):
        return compare(version(values[key]), "eq", version(value))
    return glob(str(values[key]), str(value))


STRING_FIELDS = (
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


def render(text: str, record: dict[str, Any], subdir: str, old: str | None = None) -> str:
    keys = TEMPLATE_KEYS + (["old"] if old is not None else [])
    used = [k for k in keys if f"${k}" in text or f"${{{k}}}" in text]
    if not used:
        return text
    data: dict[str, Any] = {k: record[k] for k in used if k in record}
    data["subdir"] = subdir
    if old is not None:
        data["old"] = old
    parts = str(record.get("version", "")).split(".")
    if "next_version" in used:
        data["next_version"] = ".".join([*parts[:-1], str(int(parts[-1]) + 1)])
    for index, key in enumerate(["major_version", "minor_version", "patch_version"]):
        data[key] = parts[index] if index < len(parts) else "0"
    return string.Template(text).substitute(data)


def upper_bound(version_text: str, max_pin: str) -> str:
    count = max_pin.count("x")
    parts = version_text.split(".")
    parts += ["0"] * max(0, count - len(parts))
    parts = parts[:count] + ["0"] * (len(parts) - count)
    parts[count - 1] = str(int(parts[count - 1]) + 1)
    return ".".join(parts)


def pad(parts: list[str], size: int) -> list[str]:
    return parts + ["0"] * max(0, size - len(parts))


def end_zero(parts: list[str]) -> str:
    return ".".join(parts if parts[-1] == "0" else [*parts, "0"])


PIN = r"^>=(?P<lower>\d+(\.\d+)*a?),<(?P<upper>\d+(\.\d+)*)a0$"
GT = r"^>=(?P<lower>\d+(\.\d+)*a?)[^<*]*$"


def stricter(deps: list[str], name: str, max_pin: str | None, bound: str | None) -> None:
    import re

    for i in [i for i, d in enumerate(deps) if d.split(" ")[0] == name]:
        parts = deps[i].split(" ")
        tail = f" {parts[2]}" if len(parts) == 3 else ""
        if len(parts) == 1:
            if bound is not None:
                bound = end_zero(bound.split("."))
                deps[i] = f"{parts[0]} <{bound}a0"
            continue
        if len(parts) > 3:
            continue
        if m := re.match(GT, parts[1]):
            new = (bound if bound is not None else upper_bound(m["lower"], max_pin or "")).split(
                "."
            )
            low = pad(m["lower"].split("."), len(new))
            new = pad(new, len(low))
            if Version(".".join(low)) < Version(".".join(new)):
                deps[i] = f"{parts[0]} {parts[1]},<{end_zero(new)}a0{tail}"
        elif m := re.match(PIN, parts[1]):
            new = (bound if bound is not None else upper_bound(m["lower"], max_pin or "")).split(
                "."
            )
            up = pad(m["upper"].split("."), len(new))
            new = pad(new, len(up))
            if Version(".".join(up)) > Version(".".join(new)):
                deps[i] = f"{parts[0]} >={m['lower']},<{end_zero(new)}a0{tail}"
        elif len(parts) == 2 and parts[1].startswith("<") and bound is not None:
            bound = end_zero(bound.split("."))
            old = parts[1].split("<")[1]
            if old.startswith("="):
                wider = Version(old[1:]) >= Version(bound)
            else:
                wider = Version(old) > Version(bound)
            if wider:
                deps[i] = f"{parts[0]} <{bound}a0"


def looser(deps: list[str], name: str, max_pin: str | None, bound: str | None) -> None:
    import re

    for i in [i for i, d in enumerate(deps) if d.split(" ")[0] == name]:
        parts = deps[i].split(" ")
        tail = f" {parts[2]}" if len(parts) == 3 else ""
        m = re.match(PIN, parts[1]) if len(parts) in (2, 3) else None
        if m is None:
            continue
        if bound in (None, "None") and max_pin is None:
            deps[i] = f"{parts[0]} >={m['lower']}{tail}"
            continue
        new = (upper_bound(m["lower"], max_pin) if bound is None else bound).split(".")  # type: ignore[arg-type]
        up = pad(m["upper"].split("."), len(new))
        new = pad(new, len(up))
        if tuple(up) < tuple(new):
            deps[i] = f"{parts[0]} >={m['lower']},<{end_zero(new)}a0{tail}"


def run_action(key: str, value: Any, record: dict[str, Any], subdir: str) -> None:
    verb, _, field = key.partition("_")
    if key == "add_track_features":
        for feature in as_list(value):
            record["track_features"] = " ".join(
                [*(record.get("track_features") or "").split(), feature]
            )
    elif key == "remove_track_features":
        if record.get("track_features") is not None:
            for pattern in as_list(value):
                kept = [f for f in record["track_features"].split() if not glob(f, pattern)]
                record["track_features"] = " ".join(kept) or None
                if record["track_features"] is None:
                    break
    elif verb == "add":
        deps = record.get(field) or []
        for item in as_list(value):
            item = render(item, record, subdir)
            if item not in deps:
                deps.append(item)
        record[field] = deps
    elif verb == "remove":
        if record.get(field) is None:
            return
        deps = record[field]
        for dep in {d for p in as_list(value) for d in deps if glob(d, p)}:
            deps.remove(dep)
        record[field] = deps or None
    elif verb == "reset":
        record[field] = [render(item, record, subdir) for item in as_list(value)]
    elif verb == "replace":
        deps = record.get(field) or []
        pattern = render(value["old"], record, subdir)
        for dep in deps:  # edits the list while walking it, as conda-forge does
            if glob(dep, pattern):
                new = render(value["new"], record, subdir, old=dep)
                i = deps.index(dep)
                if new not in deps:
                    deps[i] = new
                elif new != dep:
                    deps.pop(i)
    elif verb == "rename":
        deps = record.get(field) or []
        old, new = render(value["old"], record, subdir), render(value["new"], record, subdir)
        for i, dep in enumerate(deps):
            parts = dep.split(" ")
            if parts[0] == old:
                deps[i] = " ".join([new, *parts[1:]])
                break
    elif key == "relax_exact_depends":
        deps = record.get("depends") or []
        name = render(value["name"], record, subdir)
        for i, dep in enumerate(deps):
            parts = dep.split(" ")
            if parts[0] == name:
                if len(parts) == 3 and not any(parts[1].startswith(o) for o in OPERATORS):
                    pin = value.get("max_pin")
                    bound = f",<{upper_bound(parts[1], pin)}a0" if pin else ""
                    deps[i] = f"{parts[0]} >={parts[1]}{bound}"
                break
    else:  # tighten_depends, loosen_depends
        deps = record.get("depends") or []
        pattern = render(value["name"], record, subdir)
        bound = value.get("upper_bound")
        bound = render(str(bound), record, subdir) if bound is not None else None
        for dep in deps:
            name = dep.split(" ")[0]
            if glob(name, pattern):
                helper = stricter if key == "tighten_depends" else looser
                helper(deps, name, value.get("max_pin"), bound)


class Reference:
    """The documents, applied to one record at a time."""

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        plain = re.compile(r"[a-z0-9_.-]+")
        # conda-forge's shortlist: a plain `name` only reaches records of that name.
        self.documents = [
            (d, n if isinstance(n := d["if"].get("name"), str) and plain.fullmatch(n) else None)
            for d in documents
        ]

    def patch(self, fn: str, record: dict[str, Any], subdir: str) -> dict[str, Any]:
        """The record after every document, in order."""
        result = copy.deepcopy(record)
        for document, name in self.documents:
            if name is not None and name != record["name"]:
                continue
            if all(test_condition(k, v, result, subdir, fn) for k, v in document["if"].items()):
                for item in document["then"]:
                    for key, value in item.items():
                        run_action(key, value, result, subdir)
        for key in ("depends", "constrains", "track_features"):
            if key in result and result[key] is None and record.get(key, 0) is not None:
                del result[key]
        return result
