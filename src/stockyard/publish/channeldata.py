"""Build `channeldata.json` (CEP 38): one summary per package name, from its artifacts.

Follows conda-index (`ChannelIndex._update_channeldata` in `conda_index/index/__init__.py`,
`load_all_from_cache` and `_cache_post_install_details` in `conda_index/index/sqlitecache.py`),
computed from scratch per name so that only changed names need recomputing:

- Within a subdir, a `.tar.bz2` whose `.conda` twin is present is ignored. The remaining
  artifacts are grouped by (subdir, version); each group is represented by its newest artifact
  (timestamp, then build number, then filename).
- Each artifact's metadata is its `about.json` (with recipe `source` keys flattened to
  `source_url`, `source_git_url`, ...), overlaid by its `paths.json` flags and its (patched)
  repodata record, as conda-index overlays recipe, about, post_install and index.json.
- Descriptive fields (summary, description, home, license, urls, tags, keywords, ...) and
  `version` come from the newest representative (version order, then timestamp) that has a
  non-empty value. conda-index's incremental update gets the same answer in nearly every case
  (its result depends on processing order when the newest group lacks a value).
- The prefix / script flags are true when any representative has them (CEP 38: required bools).
- `run_exports` maps each version to the run_exports of that version's representative, taking
  subdirs in sorted order with later ones winning; empty run_exports are skipped.
- `subdirs`: where the name has artifacts. `timestamp`: the newest artifact timestamp in seconds
  (CEP 38; conda-index before 0.11 kept the last subdir's instead).
- `icon_url` / `icon_hash`: conda-index no longer extracts icons; we publish icons content-
  addressed at `icons/<sha256>.png` (see `icon_path`) with `icon_hash` `sha256:<hex>`.
- Keys whose value is null are left out, as conda-index writes the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rattler import Version
from rattler.exceptions import InvalidVersionError

from stockyard.types.repodata import icon_path

CHANNELDATA_VERSION = 1

#: Fields taken from the newest artifact that has them, as conda-index picks them.
DESCRIPTIVE_FIELDS = (
    "description",
    "dev_url",
    "doc_url",
    "doc_source_url",
    "home",
    "license",
    "source_url",
    "source_git_url",
    "summary",
    "icon_url",
    "icon_hash",
    "tags",
    "identifiers",
    "keywords",
    "recipe_origin",
    "version",
)

#: paths.json flags; true in channeldata when any artifact has them.
PATH_FLAGS = (
    "binary_prefix",
    "text_prefix",
    "activate.d",
    "deactivate.d",
    "pre_link",
    "post_link",
    "pre_unlink",
)

# conda-index's cut-off between second and millisecond timestamps (9999-12-31 in seconds).
_MAX_SECONDS = 253402300799
_LOWEST = Version("0")


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    """What the catalog keeps per artifact, enough to build its channeldata entry.

    `about` is `info/about.json`, optionally with the recipe's `source` section under `source`.
    `path_flags` holds the PATH_FLAGS booleans computed from `info/paths.json`.
    """

    filename: str
    subdir: str
    record: dict[str, Any]
    about: dict[str, Any] | None = None
    run_exports: dict[str, Any] | None = None
    icon_sha256: str | None = None
    path_flags: dict[str, bool] | None = None


def timestamp_seconds(timestamp: Any) -> int:
    """A record timestamp in seconds (records hold milliseconds, very old ones seconds)."""
    if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
        return 0
    seconds = int(timestamp)
    return seconds // 1000 if seconds > _MAX_SECONDS else seconds


def _clean_text(value: Any) -> Any:
    """conda-index's `_clear_newline_chars`: one line, trimmed; the first item of a list."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return value.strip().replace("\n", " ")
    return value


def _metadata(artifact: ArtifactSummary) -> dict[str, Any]:
    data: dict[str, Any] = dict(artifact.about or {})
    if artifact.path_flags:
        data.update(artifact.path_flags)
    data.update(artifact.record)
    source = data.get("source")
    if isinstance(source, dict):
        for key, value in source.items():
            data[f"source_{key}"] = value
    for key in ("description", "summary"):
        if key in data:
            data[key] = _clean_text(data[key])
    if artifact.icon_sha256:
        data["icon_url"] = icon_path(artifact.icon_sha256)
        data["icon_hash"] = f"sha256:{artifact.icon_sha256}"
    return data


def _parse_version(text: Any) -> tuple[bool, Version]:
    if isinstance(text, str):
        try:
            return True, Version(text)
        except InvalidVersionError:
            pass
    return False, _LOWEST


def _within_version_key(artifact: ArtifactSummary) -> tuple[int, int, str]:
    build_number = artifact.record.get("build_number")
    return (
        timestamp_seconds(artifact.record.get("timestamp")),
        build_number if isinstance(build_number, int) else 0,
        artifact.filename,
    )


def _representatives(artifacts: Iterable[ArtifactSummary]) -> list[ArtifactSummary]:
    """The newest artifact per (subdir, version), twins of `.conda` artifacts left out."""
    by_subdir: dict[str, dict[str, ArtifactSummary]] = {}
    for artifact in artifacts:
        by_subdir.setdefault(artifact.subdir, {})[artifact.filename] = artifact
    chosen: dict[tuple[str, str], ArtifactSummary] = {}
    for subdir, files in by_subdir.items():
        for filename, artifact in files.items():
            if filename.endswith(".tar.bz2") and filename[: -len(".tar.bz2")] + ".conda" in files:
                continue
            key = (subdir, str(artifact.record.get("version", "0")))
            current = chosen.get(key)
            if current is None or _within_version_key(artifact) > _within_version_key(current):
                chosen[key] = artifact
    return list(chosen.values())


def channeldata_entry(name: str, artifacts: Iterable[ArtifactSummary]) -> dict[str, Any]:
    """The CEP 38 entry for package `name`, from all of its artifacts in the channel.

    Raises ValueError when `artifacts` is empty or holds another package's artifact.
    """
    artifacts = list(artifacts)
    if not artifacts:
        raise ValueError(f"no artifacts for package {name!r}")
    for artifact in artifacts:
        if artifact.record.get("name") != name:
            raise ValueError(f"{artifact.filename} is not an artifact of package {name!r}")

    groups = [(artifact, _metadata(artifact)) for artifact in _representatives(artifacts)]
    newest_first = sorted(
        groups,
        key=lambda item: (
            _parse_version(item[0].record.get("version")),
            *_within_version_key(item[0]),
            item[0].subdir,
        ),
        reverse=True,
    )
    entry: dict[str, Any] = {}
    for field in DESCRIPTIVE_FIELDS:
        for _, data in newest_first:
            if data.get(field):
                entry[field] = data[field]
                break
    for flag in PATH_FLAGS:
        entry[flag] = any(bool(data.get(flag)) for _, data in groups)

    run_exports: dict[str, Any] = {}
    for artifact, _ in sorted(groups, key=lambda item: item[0].subdir):
        if artifact.run_exports:
            run_exports[str(artifact.record.get("version", "0"))] = artifact.run_exports
    entry["run_exports"] = run_exports
    entry["subdirs"] = sorted({artifact.subdir for artifact, _ in groups})
    # The newest representative of each group is also the group's newest timestamp.
    entry["timestamp"] = max(
        timestamp_seconds(artifact.record.get("timestamp")) for artifact, _ in groups
    )
    return {key: value for key, value in entry.items() if value is not None}


def render_channeldata(
    entries: Mapping[str, dict[str, Any]], subdirs: Iterable[str]
) -> dict[str, Any]:
    """The whole `channeldata.json` document: entries sorted by name, subdirs sorted."""
    return {
        "channeldata_version": CHANNELDATA_VERSION,
        "packages": {name: entries[name] for name in sorted(entries)},
        "subdirs": sorted(set(subdirs)),
    }
