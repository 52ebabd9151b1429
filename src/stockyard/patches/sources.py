"""Where patch instructions come from, loaded and checked before anything is published.

Three kinds, as conda-index accepts them (`ChannelIndex._patch_repodata`):

- a `patch_instructions.json` file: one instruction set for every subdir, or a JSON object keyed
  by subdir (told apart by content); or a directory holding `<subdir>/patch_instructions.json`;
- a patch package (`.conda` / `.tar.bz2`, like conda-forge-repodata-patches) whose payload holds
  `<subdir>/patch_instructions.json`; the spec may also be the bare name of such a package, and
  the newest artifact of that name in the channel's `noarch/` is used (the package is extracted
  safely with `stockyard.package.extract` into a scratch directory);
- a Python file defining `_patch_repodata(repodata, subdir)` that returns instructions;
- conda-forge's patch YAML (`if:`/`then:` documents, docs/specs/patch-yaml.md): a `.yaml` /
  `.yml` file, or a directory of them (told apart from an instructions directory by content: it
  holds `*.yaml`/`*.yml` files and no `<subdir>/patch_instructions.json`; a conda-forge `recipe/`
  directory with its `patch_yaml/` works too). The rules are compiled once
  (`stockyard.patches.yaml_rules`) and turned into instructions for each subdir's repodata
  (`YamlPatchSource`, a `GeneratorPatchSource`, so the index builds the repodata for it).

A subdir the source says nothing about gets empty instructions (conda-index does the same for a
patch package without that subdir). Static sources are parsed and validated completely when
loaded; a Python generator is validated on every call, with the repodata it is given.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import msgspec
from rattler import Version
from rattler.exceptions import InvalidVersionError

from stockyard.package.extract import extract_artifact
from stockyard.patches.apply import validate_instructions
from stockyard.patches.instructions_gen import instructions_from_changes
from stockyard.patches.yaml_rules import YAML_SUFFIXES, PatchYamlRules, load_patch_yaml
from stockyard.types import identifiers as ids
from stockyard.types.errors import ConfigError, InvalidIdentifier, InvalidMetadata
from stockyard.types.repodata import PATCH_INSTRUCTIONS_JSON

_INSTRUCTION_KEYS = frozenset(
    {"packages", "packages.conda", "revoke", "remove", "patch_instructions_version"}
)
_SUBDIR_RE = re.compile(ids.SUBDIR_PATTERN)
_GENERATOR_FUNCTION = "_patch_repodata"
_SPEC_HINT = (
    "Pass a patch_instructions.json file, a directory of <subdir>/patch_instructions.json, "
    "a patch package (.conda/.tar.bz2) or its name in the channel's noarch/, a Python file "
    "defining _patch_repodata(repodata, subdir), or a patch YAML file (.yaml/.yml) or directory."
)


class PatchSource(Protocol):
    """Patch instructions per subdir, plus a fingerprint that changes when the source does."""

    fingerprint: str

    def instructions_for(self, subdir: str, repodata: dict[str, Any]) -> dict[str, Any]:
        """Validated patch instructions for `subdir` (a fresh dict the caller may keep)."""
        ...


class StaticPatchSource:
    """Instructions fixed in advance: a JSON file, a directory or a patch package.

    Each subdir's instructions are kept as JSON bytes and decoded on request, so callers get
    their own copy and a source with many large subdirs stays compact in memory.
    """

    def __init__(
        self,
        origin: str,
        by_subdir: Mapping[str, bytes],
        every_subdir: bytes | None = None,
    ) -> None:
        self.origin = origin
        self._by_subdir = dict(by_subdir)
        self._every_subdir = every_subdir
        digest = hashlib.sha256(b"stockyard-patches-static\n")
        if every_subdir is not None:
            digest.update(b"*\0" + hashlib.sha256(every_subdir).digest())
        for subdir, raw in sorted(self._by_subdir.items()):
            digest.update(subdir.encode() + b"\0" + hashlib.sha256(raw).digest())
        self.fingerprint = digest.hexdigest()

    @property
    def subdirs(self) -> frozenset[str]:
        """The subdirs with their own instructions (empty when one set applies to all)."""
        return frozenset(self._by_subdir)

    def instructions_for(self, subdir: str, repodata: dict[str, Any]) -> dict[str, Any]:
        raw = self._by_subdir.get(subdir, self._every_subdir)
        if raw is None:
            return {}
        instructions: dict[str, Any] = msgspec.json.decode(raw)
        return instructions

    def __repr__(self) -> str:
        return f"StaticPatchSource({self.origin!r})"


class GeneratorPatchSource:
    """A Python file whose `_patch_repodata(repodata, subdir)` computes the instructions."""

    def __init__(
        self, path: Path, function: Callable[[dict[str, Any], str], Any], source: bytes
    ) -> None:
        self.path = path
        self._function = function
        self.fingerprint = hashlib.sha256(b"stockyard-patches-python\n" + source).hexdigest()

    def instructions_for(self, subdir: str, repodata: dict[str, Any]) -> dict[str, Any]:
        given = _json_copy(repodata)
        try:
            returned = self._function(given, subdir)
        except Exception as exc:
            raise ConfigError(
                f"{self.path}: {_GENERATOR_FUNCTION}(repodata, {subdir!r}) raised "
                f"{type(exc).__name__}: {exc}",
                hint="Fix the patch generator; nothing was published.",
            ) from exc
        origin = f"{self.path}: instructions for {subdir}"
        try:
            # Round-trip through JSON: plain dicts and lists (no defaultdict, tuples or shared
            # objects), and a clear error for values JSON cannot hold.
            instructions: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(returned))
        except (TypeError, msgspec.EncodeError) as exc:
            raise InvalidMetadata(
                f"{origin} are not JSON data: {exc}",
                hint="Return a dict of lists, dicts, strings, numbers, booleans and None.",
            ) from exc
        validate_instructions(instructions, origin=origin)
        return instructions

    def __repr__(self) -> str:
        return f"GeneratorPatchSource({str(self.path)!r})"


class YamlPatchSource(GeneratorPatchSource):
    """Patch YAML rules (a file or a directory), compiled when loaded.

    A `GeneratorPatchSource` because, like a Python generator, it computes the instructions from
    the subdir's unpatched repodata (the index builds that repodata only for generator sources).
    Unlike one, it never mutates the repodata, so none is copied, and its instructions are valid
    by construction. The fingerprint covers every file's bytes and the engine version.
    """

    def __init__(self, path: Path, rules: PatchYamlRules) -> None:
        super().__init__(path, self._generate, b"")
        self.rules = rules
        self.fingerprint = hashlib.sha256(
            b"stockyard-patches-yaml\n" + rules.fingerprint.encode()
        ).hexdigest()

    def _generate(self, repodata: dict[str, Any], subdir: str) -> dict[str, Any]:
        return instructions_from_changes(repodata, self.rules.changed_records(repodata, subdir))

    def instructions_for(self, subdir: str, repodata: dict[str, Any]) -> dict[str, Any]:
        return self._generate(repodata, subdir)

    def __repr__(self) -> str:
        return f"YamlPatchSource({str(self.path)!r})"


def _json_copy(repodata: dict[str, Any]) -> dict[str, Any]:
    """A deep copy for the generator to scribble on (a JSON round trip is ~4x faster than
    copy.deepcopy on repodata)."""
    try:
        copied: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(repodata))
    except (TypeError, msgspec.EncodeError):
        return copy.deepcopy(repodata)
    return copied


def _decode_json(raw: bytes, origin: str) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidMetadata(
            f"{origin} is not valid JSON: {exc}", hint="Fix or regenerate the file."
        ) from exc


def _checked_subdir_instructions(raw: bytes, origin: str) -> bytes:
    data = _decode_json(raw, origin)
    validate_instructions(data, origin=origin)
    return raw


def _load_json_file(path: Path) -> StaticPatchSource:
    raw = path.read_bytes()
    data = _decode_json(raw, str(path))
    if not isinstance(data, dict):
        raise InvalidMetadata(
            f"{path}: patch instructions must be a JSON object, got {type(data).__name__}",
            hint=_SPEC_HINT,
        )
    if not data or _INSTRUCTION_KEYS & data.keys():
        validate_instructions(data, origin=str(path))
        return StaticPatchSource(str(path), {}, every_subdir=raw)
    not_subdirs = [key for key in data if not _SUBDIR_RE.fullmatch(key)]
    if not_subdirs:
        raise InvalidMetadata(
            f"{path}: neither patch instructions nor instructions keyed by subdir "
            f"(unexpected key {not_subdirs[0]!r})",
            hint="Use 'packages', 'packages.conda', 'revoke', 'remove' at the top level, or "
            "one such object per subdir name.",
        )
    by_subdir: dict[str, bytes] = {}
    for subdir, instructions in data.items():
        validate_instructions(instructions, origin=f"{path}: instructions for {subdir}")
        by_subdir[subdir] = msgspec.json.encode(instructions)
    return StaticPatchSource(str(path), by_subdir)


def _load_directory(path: Path) -> StaticPatchSource:
    by_subdir: dict[str, bytes] = {}
    for child in sorted(path.iterdir()):
        candidate = child / PATCH_INSTRUCTIONS_JSON
        if _SUBDIR_RE.fullmatch(child.name) and candidate.is_file():
            by_subdir[child.name] = _checked_subdir_instructions(
                candidate.read_bytes(), str(candidate)
            )
    if not by_subdir:
        raise ConfigError(f"{path} holds no <subdir>/{PATCH_INSTRUCTIONS_JSON}", hint=_SPEC_HINT)
    return StaticPatchSource(str(path), by_subdir)


def _load_package(path: Path) -> StaticPatchSource:
    with tempfile.TemporaryDirectory(prefix="stockyard-patches-") as scratch:
        root = Path(scratch) / "artifact"
        extract_artifact(path, root)
        by_subdir = {
            child.name: _checked_subdir_instructions(
                (child / PATCH_INSTRUCTIONS_JSON).read_bytes(),
                f"{path}!{child.name}/{PATCH_INSTRUCTIONS_JSON}",
            )
            for child in sorted(root.iterdir())
            if _SUBDIR_RE.fullmatch(child.name) and (child / PATCH_INSTRUCTIONS_JSON).is_file()
        }
    if not by_subdir:
        raise InvalidMetadata(
            f"{path}: the package holds no <subdir>/{PATCH_INSTRUCTIONS_JSON}",
            hint="A patch package carries one patch_instructions.json per subdir in its payload.",
        )
    return StaticPatchSource(str(path), by_subdir)


def _load_python(path: Path) -> GeneratorPatchSource:
    source = path.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(f"stockyard_patch_generator_{digest}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot be loaded as a Python module", hint=_SPEC_HINT)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(
            f"{path}: loading the patch generator failed: {type(exc).__name__}: {exc}",
            hint="Fix the Python file; nothing was published.",
        ) from exc
    function = getattr(module, _GENERATOR_FUNCTION, None)
    if not callable(function):
        raise ConfigError(
            f"{path} defines no {_GENERATOR_FUNCTION}(repodata, subdir) function",
            hint="A patch generator returns patch instructions from "
            f"{_GENERATOR_FUNCTION}(repodata, subdir), as conda-index expects.",
        )
    return GeneratorPatchSource(path, function, source)


def _build_number(build: str) -> int:
    """The build number conda-build appends to build strings (`py_3` -> 3), 0 if none."""
    tail = build.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def find_newest_package(noarch_dir: Path, name: str) -> Path | None:
    """The newest artifact of package `name` in a noarch directory, judged by its filename:
    version, then build number, then `.conda` before `.tar.bz2`."""
    best: tuple[Any, ...] | None = None
    best_path: Path | None = None
    if not noarch_dir.is_dir():
        return None
    for entry in noarch_dir.iterdir():
        if not entry.name.startswith(f"{name}-") or not ids.is_artifact_filename(entry.name):
            continue
        try:
            parsed = ids.parse_artifact_filename(entry.name)
            version = Version(parsed.version)
        except (InvalidIdentifier, InvalidVersionError):
            continue
        if parsed.name != name or not entry.is_file():
            continue
        key = (version, _build_number(parsed.build), parsed.extension == "conda", entry.name)
        if best is None or key > best:
            best, best_path = key, entry
    return best_path


def load_patch_source(spec: str, *, channel_dir: Path | None = None) -> PatchSource:
    """Load and check a patch source (see the module docstring for the kinds of `spec`).

    A relative path is looked up in the working directory, then in `channel_dir`. Raises
    ConfigError when the source cannot be found or is of an unknown kind, InvalidMetadata when
    its content is not valid patch instructions, InvalidArtifact for an unreadable package.
    """
    candidates = [Path(spec)]
    if channel_dir is not None and not Path(spec).is_absolute():
        candidates.append(channel_dir / spec)
    path = next((candidate for candidate in candidates if candidate.exists()), None)
    if path is None:
        return _load_named_package(spec, channel_dir)
    if path.is_dir():
        if _is_yaml_directory(path):
            return YamlPatchSource(path, load_patch_yaml(path))
        return _load_directory(path)
    name = path.name
    if name.endswith(YAML_SUFFIXES):
        return YamlPatchSource(path, load_patch_yaml(path))
    if name.endswith(".json"):
        return _load_json_file(path)
    if name.endswith(".py"):
        return _load_python(path)
    if ids.is_artifact_filename(name):
        return _load_package(path)
    raise ConfigError(f"{path}: unknown kind of patch source", hint=_SPEC_HINT)


def _is_yaml_directory(path: Path) -> bool:
    """A directory of patch YAML files (or a conda-forge `recipe/` with `patch_yaml/`) rather
    than one of `<subdir>/patch_instructions.json`."""
    if any((child / PATCH_INSTRUCTIONS_JSON).is_file() for child in path.iterdir()):
        return False
    candidates = [*path.iterdir()]
    if (path / "patch_yaml").is_dir():
        candidates += [*(path / "patch_yaml").iterdir()]
    return any(child.suffix in YAML_SUFFIXES and child.is_file() for child in candidates)


def _load_named_package(spec: str, channel_dir: Path | None) -> PatchSource:
    try:
        ids.check_package_name(spec)
    except InvalidIdentifier:
        raise ConfigError(f"patch source {spec} does not exist", hint=_SPEC_HINT) from None
    if channel_dir is None:
        raise ConfigError(
            f"patch source {spec} is neither a file nor a package name that can be looked up "
            "(no channel directory given)",
            hint=_SPEC_HINT,
        )
    found = find_newest_package(channel_dir / "noarch", spec)
    if found is None:
        raise ConfigError(
            f"no file {spec} and no package named {spec} in {channel_dir / 'noarch'}",
            hint="Upload the patch package to the channel's noarch subdir first, or pass a path.",
        )
    return _load_package(found)
