"""What an artifact's `info/` directory says, parsed and checked: `ArtifactMetadata`, `PathFlags`.

The parsing here is format-independent: it receives the bytes of the `info/` members that matter
(`INFO_MEMBERS`), whichever archive they came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from stockyard.package._problems import ArchiveProblem
from stockyard.types.encoding import MAX_NESTING, exceeds_nesting
from stockyard.types.identifiers import ArtifactName
from stockyard.types.package_files import PathsJson
from stockyard.types.records import normalize_run_exports

INDEX_JSON: Final = "info/index.json"
ABOUT_JSON: Final = "info/about.json"
RUN_EXPORTS_JSON: Final = "info/run_exports.json"
LINK_JSON: Final = "info/link.json"
PATHS_JSON: Final = "info/paths.json"
FILES: Final = "info/files"
HAS_PREFIX: Final = "info/has_prefix"
ICON: Final = "info/icon.png"
RECIPE_FILES: Final = ("info/recipe/meta.yaml", "info/recipe/recipe.yaml")
#: The `info/` members reading needs; everything else in `info/` is skipped.
INFO_MEMBERS: Final = frozenset(
    {INDEX_JSON, ABOUT_JSON, RUN_EXPORTS_JSON, LINK_JSON, PATHS_JSON, FILES, HAS_PREFIX, ICON}
    | set(RECIPE_FILES)
)

_json = msgspec.json.Decoder()
_paths_json = msgspec.json.Decoder(PathsJson)


class _FlagFields(msgspec.Struct):
    """The three fields of a `PathEntry` that flags depend on.

    Reading decodes paths.json into this view rather than into `PathsJson`: it skips the
    per-entry sha256 pattern checks, six times faster for a package of 2,000 files. The full
    document is still validated against `PathsJson` by `verify_artifact`.
    """

    path: str = msgspec.field(name="_path")
    file_mode: str | None = None
    prefix_placeholder: str | None = None


class _FlagDocument(msgspec.Struct):
    paths: list[_FlagFields] = []


_flag_document = msgspec.json.Decoder(_FlagDocument)


@dataclass(frozen=True, slots=True)
class PathFlags:
    """Facts about the payload, from `info/paths.json` (or `info/files` + `info/has_prefix`)."""

    binary_prefix: bool = False  #: a file with file_mode binary and a prefix placeholder
    text_prefix: bool = False  #: a file with file_mode text and a prefix placeholder
    activate_d: bool = False  #: ships etc/conda/activate.d/*
    deactivate_d: bool = False  #: ships etc/conda/deactivate.d/*
    pre_link: bool = False  #: ships bin/.<name>-pre-link.sh or Scripts/.<name>-pre-link.bat
    post_link: bool = False
    pre_unlink: bool = False

    def __reduce__(self) -> tuple[Any, tuple[bool, ...]]:
        return PathFlags, (
            self.binary_prefix,
            self.text_prefix,
            self.activate_d,
            self.deactivate_d,
            self.pre_link,
            self.post_link,
            self.pre_unlink,
        )


@dataclass(frozen=True, slots=True)
class ArtifactMetadata:
    """Everything an indexer needs from one artifact, read in one pass over its bytes."""

    filename: str
    format: Literal["conda", "tar.bz2"]
    size: int
    md5: str  #: lowercase hex
    sha256: str  #: lowercase hex
    index_json: dict[str, Any]  #: info/index.json as found, unknown keys kept
    about: dict[str, Any] | None  #: info/about.json
    run_exports: dict[str, list[str]] | None  #: info/run_exports.json, dictionary form
    link: dict[str, Any] | None  #: info/link.json
    path_flags: PathFlags
    icon: bytes | None  #: info/icon.png, unless larger than Limits.max_icon_bytes
    recipe: dict[str, bytes]  #: info/recipe/{meta,recipe}.yaml by member name (bounded)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Positional constructor arguments pickle in half the time of the dataclass default
        # (a Python-level __getstate__/__setstate__); results cross a process pool by the
        # thousands when indexing.
        return ArtifactMetadata, (
            self.filename,
            self.format,
            self.size,
            self.md5,
            self.sha256,
            self.index_json,
            self.about,
            self.run_exports,
            self.link,
            self.path_flags,
            self.icon,
            self.recipe,
        )


def decode_json(raw: bytes, member: str, decode: Any = _json.decode) -> Any:
    """A JSON member of an artifact, decoded; anything unreadable is an `ArchiveProblem`: not
    JSON, not UTF-8, or nested more than `MAX_NESTING` levels deep (msgspec stops at its own
    recursion limit; we at ours, well below any parser's)."""
    try:
        value = decode(raw)
    except msgspec.ValidationError as exc:
        raise ArchiveProblem(f"{member} is invalid: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ArchiveProblem(f"{member} is not valid JSON ({exc})") from None
    except RecursionError:
        value = _TOO_DEEP  # nested beyond msgspec's own limit
    # Fewer opening brackets than the limit cannot nest deeper than it: most documents never
    # need the walk (it costs more than decoding them).
    shallow = raw.count(b"[") + raw.count(b"{") <= MAX_NESTING
    if value is _TOO_DEEP or (not shallow and exceeds_nesting(value)):
        raise ArchiveProblem(f"{member} is nested more than {MAX_NESTING} levels deep")
    return value


_TOO_DEEP: Final = object()


def _decode_object(raw: bytes, member: str) -> dict[str, Any]:
    value = decode_json(raw, member)
    if not isinstance(value, dict):
        raise ArchiveProblem(f"{member} is not a JSON object")
    return value


def parse_index_json(raw: bytes | None, expected: ArtifactName) -> dict[str, Any]:
    """`info/index.json`, decoded, whose name, version and build agree with the filename.

    Nothing else is checked here: what a channel publishes of it is decided by admission
    (`stockyard.types.admission`), which every way in applies.
    """
    if raw is None:
        raise ArchiveProblem(f"no {INDEX_JSON} in the artifact")
    index = _decode_object(raw, INDEX_JSON)
    for key in ("name", "version", "build"):
        if key not in index:
            raise ArchiveProblem(f"{INDEX_JSON} has no {key!r}")
        if not isinstance(index[key], str):
            raise ArchiveProblem(f"{INDEX_JSON} has a {key!r} that is not a string")
    found = (index["name"], index["version"], index["build"])
    if found != (expected.name, expected.version, expected.build):
        raise ArchiveProblem(
            f"the filename says {expected.stem!r} but {INDEX_JSON} says "
            f"{'-'.join(found)!r} (name-version-build must agree)"
        )
    return index


_BINARY_PREFIX, _TEXT_PREFIX, _ACTIVATE, _DEACTIVATE, _PRE_LINK, _POST_LINK, _PRE_UNLINK = (
    1 << i for i in range(7)
)
#: Every PathFlags value, by bit pattern: building a frozen dataclass per artifact costs more
#: than the whole scan of a small paths.json.
_FLAGS_BY_BITS: Final = tuple(
    PathFlags(*((bits >> i) & 1 == 1 for i in range(7))) for bits in range(128)
)
_LINK_SCRIPTS: Final = (
    ("pre-link", _PRE_LINK),
    ("post-link", _POST_LINK),
    ("pre-unlink", _PRE_UNLINK),
)


def _flags(name: str, paths: Iterable[str], prefix_modes: Iterable[str]) -> PathFlags:
    bits = 0
    scripts: dict[str, int] | None = None
    for path in paths:
        if "\\" in path:
            path = path.replace("\\", "/")
        if path.startswith("etc/conda/"):
            if path.startswith("etc/conda/activate.d/"):
                bits |= _ACTIVATE
            elif path.startswith("etc/conda/deactivate.d/"):
                bits |= _DEACTIVATE
        elif path.startswith(("bin/.", "Scripts/.")):
            if scripts is None:
                scripts = {}
                for action, bit in _LINK_SCRIPTS:
                    scripts[f"bin/.{name}-{action}.sh"] = bit
                    scripts[f"Scripts/.{name}-{action}.bat"] = bit
            bits |= scripts.get(path, 0)
    for mode in prefix_modes:
        bits |= _BINARY_PREFIX if mode == "binary" else _TEXT_PREFIX
    return _FLAGS_BY_BITS[bits]


def parse_paths_json(raw: bytes) -> PathsJson:
    document: PathsJson = decode_json(raw, PATHS_JSON, _paths_json.decode)
    return document


def has_prefix_modes(raw: bytes) -> list[tuple[str, str]]:
    """(path, mode) of each line of the legacy `info/has_prefix`.

    A line is either `<path>` (text mode, default placeholder) or
    `<placeholder> <text|binary> <path>`, where placeholder and path may be double-quoted.
    """
    out = []
    for line in raw.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line:
            continue
        parts = _split_quoted(line)
        if len(parts) == 3 and parts[1] in ("text", "binary"):
            out.append((parts[2], parts[1]))
        else:
            out.append((line, "text"))
    return out


def _split_quoted(line: str) -> list[str]:
    parts: list[str] = []
    rest = line
    while rest:
        if rest[0] == '"':
            end = rest.find('"', 1)
            if end < 0:
                return [line]
            parts.append(rest[1:end])
            rest = rest[end + 1 :].lstrip()
        else:
            word, _, rest = rest.partition(" ")
            parts.append(word)
            rest = rest.lstrip()
    return parts


def path_flags(name: str, files: Mapping[str, bytes]) -> PathFlags:
    raw_paths = files.get(PATHS_JSON)
    if raw_paths is not None:
        flag_document: _FlagDocument = decode_json(raw_paths, PATHS_JSON, _flag_document.decode)
        entries = flag_document.paths
        return _flags(
            name,
            (e.path for e in entries),
            (e.file_mode or "text" for e in entries if e.prefix_placeholder),
        )
    raw_files = files.get(FILES)
    paths = raw_files.decode("utf-8", "replace").splitlines() if raw_files else []
    raw_prefix = files.get(HAS_PREFIX)
    modes = [mode for _, mode in has_prefix_modes(raw_prefix)] if raw_prefix else []
    return _flags(name, (p.strip() for p in paths if p.strip()), modes)


def build_metadata(
    files: Mapping[str, bytes],
    *,
    expected: ArtifactName,
    size: int,
    md5: str,
    sha256: str,
    max_icon_bytes: int,
    max_recipe_bytes: int,
) -> ArtifactMetadata:
    """Turn the collected `info/` members into `ArtifactMetadata` (raises `ArchiveProblem`)."""
    index = parse_index_json(files.get(INDEX_JSON), expected)
    raw = files.get(ABOUT_JSON)
    about = _decode_object(raw, ABOUT_JSON) if raw is not None else None
    raw = files.get(LINK_JSON)
    link = _decode_object(raw, LINK_JSON) if raw is not None else None
    run_exports = None
    raw = files.get(RUN_EXPORTS_JSON)
    if raw is not None:
        try:
            run_exports = normalize_run_exports(decode_json(raw, RUN_EXPORTS_JSON))
        except msgspec.ValidationError as exc:
            raise ArchiveProblem(f"{RUN_EXPORTS_JSON} is invalid: {exc}") from None
    icon = files.get(ICON)
    if icon is not None and len(icon) > max_icon_bytes:
        icon = None
    recipe = {
        member: files[member]
        for member in RECIPE_FILES
        if member in files and len(files[member]) <= max_recipe_bytes
    }
    return ArtifactMetadata(
        filename=expected.filename,
        format=expected.extension,
        size=size,
        md5=md5,
        sha256=sha256,
        index_json=index,
        about=about,
        run_exports=run_exports,
        link=link,
        path_flags=path_flags(expected.name, files),
        icon=icon,
        recipe=recipe,
    )
