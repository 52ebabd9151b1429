"""The package page's "Patches" panel: which fields the channel's patches changed in a build's
record (before and after), and, for patch YAML, which rule changed each of them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from stockyard.catalog import ArtifactDetail, Catalog, Channel


@dataclass(frozen=True, slots=True)
class FieldChange:
    key: str
    before: str
    after: str
    rules: list[str] = field(default_factory=list)


@lru_cache(maxsize=8)
def _yaml_rules(spec: str, mtime_ns: int) -> Any:
    """Compiled rules of a patch YAML source (a file or folder), reused while unchanged."""
    from stockyard.patches.sources import YamlPatchSource, load_patch_source

    source = load_patch_source(spec)
    return source.rules if isinstance(source, YamlPatchSource) else None


def _rules_for(catalog: Catalog, channel: Channel) -> Any:
    from stockyard.index.policy import effective_policy

    spec = effective_policy(catalog, channel).patch_source
    if not spec or not Path(spec).exists():
        return None
    try:
        return _yaml_rules(spec, Path(spec).stat().st_mtime_ns)
    except Exception:  # a broken source is reported where it is used, not on a web page
        return None


_PATCH_SET = re.compile(r"/patch-sets/v(\d+)/files/(?:yaml/)?")


def _short(where: str) -> str:
    """`<path>, document N` without the server's directories: `patch set v3: numpy.yaml,
    document 2` for a stored patch set, else the file name (paths stay private)."""
    origin, sep, document = where.rpartition(", document ")
    if not sep:
        origin, document = where, ""
    found = _PATCH_SET.search(origin)
    shown = f"patch set v{found.group(1)}: {origin[found.end() :]}" if found else Path(origin).name
    return f"{shown}, document {document}" if document else shown


def _shown(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value, sort_keys=True)


def patch_changes(catalog: Catalog, channel: Channel, build: ArtifactDetail) -> list[FieldChange]:
    """The fields patches changed in `build`'s published record, with the YAML rules behind
    each (empty: the record is published as the artifact says)."""
    before, after = build.unpatched, build.record
    if before is None:
        return []
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    rules = _rules_for(catalog, channel)
    by_key: dict[str, list[str]] = {}
    if rules is not None:
        for where, changed in rules.explain(build.filename, dict(before), build.subdir):
            for key in changed:
                by_key.setdefault(key, []).append(_short(where))
    return [
        FieldChange(key, _shown(before.get(key)), _shown(after.get(key)), by_key.get(key, []))
        for key in keys
    ]
