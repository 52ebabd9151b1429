"""Identifiers of the conda ecosystem, per CEP 26.

Package names, version strings, build strings, subdirs, channel names, labels and artifact
filenames, with their length limits. Every check raises `InvalidIdentifier` with a message that
names the offending value and the rule it breaks.
"""

from __future__ import annotations

import re
from typing import Final, Literal, NamedTuple

from stockyard.types.errors import InvalidIdentifier

# CEP 26 regexes. Names are matched case-insensitively by the CEP, but distributable names must be
# lowercase (CEP 34), so we match lowercase only.
PACKAGE_NAME_PATTERN: Final = r"^(([a-z0-9])|([a-z0-9_](?!_)))[._-]?([a-z0-9]+(\.|-|_|$))*$"
VIRTUAL_NAME_PATTERN: Final = r"^__[a-z0-9][._-]?([a-z0-9]+(\.|-|_|$))*$"
VERSION_PATTERN: Final = r"^[0-9a-z._+!]+$"
#: Versions of artifacts that exist: CEP 26's characters plus upper case. Older packages carry
#: them (`R15B01`, `Release_2017_09`, `4.1_21Jan17.6cc.jar`); conda compares versions
#: case-insensitively and rattler parses them. Admission warns about them.
ARTIFACT_VERSION_PATTERN: Final = r"^[0-9A-Za-z._+!]+$"
BUILD_PATTERN: Final = r"^[a-zA-Z0-9_.+]+$"
EXTENSION_PATTERN: Final = r"^[a-z0-9](\.?[a-z0-9])*$"
SUBDIR_PATTERN: Final = r"^(noarch|[a-z0-9]+-[a-z0-9]+)$"
CHANNEL_COMPONENT_PATTERN: Final = r"^[a-z0-9_][a-z0-9_.-]*$"
LABEL_PATTERN: Final = r"^[a-zA-Z][0-9a-zA-Z_\-./]*$"
MD5_PATTERN: Final = r"^[0-9a-f]{32}$"
SHA256_PATTERN: Final = r"^[0-9a-f]{64}$"


def search_pattern(pattern: str) -> str:
    """`pattern` (anchored with `^...$`) for tools that *search* with it: msgspec's `Meta`
    (Python's `re.search`, where `$` also matches before a trailing newline) and JSON Schema
    (ECMA-262, where it does not). `(?!\n)$` means the same in both: the string ends here."""
    if not pattern.endswith("$"):
        raise ValueError(f"pattern {pattern!r} is not anchored at the end")
    return pattern[:-1] + r"(?!\n)$"


MAX_NAME: Final = 64
MAX_VERSION: Final = 64
MAX_BUILD: Final = 64
MAX_EXTENSION: Final = 16
MAX_FILENAME: Final = 211
MAX_SUBDIR: Final = 32
MAX_CHANNEL_COMPONENT: Final = 128
MAX_LABEL: Final = 128

#: Artifact extensions known to conda, longest first so that suffix matching is unambiguous.
ARTIFACT_EXTENSIONS: Final = (".tar.bz2", ".conda")

ArtifactFormat = Literal["conda", "tar.bz2"]

_name_re = re.compile(PACKAGE_NAME_PATTERN)
_virtual_re = re.compile(VIRTUAL_NAME_PATTERN)
_version_re = re.compile(VERSION_PATTERN)
_artifact_version_re = re.compile(ARTIFACT_VERSION_PATTERN)
_build_re = re.compile(BUILD_PATTERN)
_subdir_re = re.compile(SUBDIR_PATTERN)
_channel_re = re.compile(CHANNEL_COMPONENT_PATTERN)
_label_re = re.compile(LABEL_PATTERN)
_sha256_re = re.compile(SHA256_PATTERN)


def _check(value: object, kind: str, regex: re.Pattern[str], limit: int, rule: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{kind} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidIdentifier(f"{kind} must not be empty")
    if len(value) > limit:
        raise InvalidIdentifier(
            f"{kind} {value[:40]!r}... is {len(value)} characters long; the limit is {limit}"
        )
    # fullmatch: `$` alone also matches before a trailing newline ("bb\n").
    if not regex.fullmatch(value):
        raise InvalidIdentifier(f"{kind} {value!r} is invalid: {rule}")
    return value


def check_package_name(name: object) -> str:
    """Validate a distributable package name (CEP 26)."""
    return _check(
        name,
        "package name",
        _name_re,
        MAX_NAME,
        "use lowercase letters, digits and single '-', '_' or '.' separators",
    )


def check_virtual_package_name(name: object) -> str:
    return _check(name, "virtual package name", _virtual_re, MAX_NAME, "must start with '__'")


def check_version(version: object) -> str:
    return _check(
        version,
        "version",
        _version_re,
        MAX_VERSION,
        "use only digits, lowercase letters, '.', '_', '+' and '!'",
    )


def check_artifact_version(version: object) -> str:
    """The version of an artifact that exists: CEP 26, upper case allowed (see
    `ARTIFACT_VERSION_PATTERN`)."""
    return _check(
        version,
        "version",
        _artifact_version_re,
        MAX_VERSION,
        "use only digits, letters, '.', '_', '+' and '!'",
    )


def check_build_string(build: object) -> str:
    return _check(
        build, "build string", _build_re, MAX_BUILD, "use only letters, digits, '_', '.' and '+'"
    )


def check_subdir(subdir: object) -> str:
    return _check(
        subdir, "subdir", _subdir_re, MAX_SUBDIR, "must be 'noarch' or '<os>-<arch>' (lowercase)"
    )


def check_channel_name(name: object) -> str:
    """A channel name as Stockyard hosts it: one or more '/'-separated CEP 26 path components."""
    if not isinstance(name, str) or not name:
        raise InvalidIdentifier("channel name must be a non-empty string")
    for part in name.split("/"):
        _check(
            part,
            "channel name component",
            _channel_re,
            MAX_CHANNEL_COMPONENT,
            "use lowercase letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        )
    return name


def check_label(label: object) -> str:
    return _check(
        label, "label", _label_re, MAX_LABEL, "start with a letter; letters, digits, _-./ only"
    )


def check_sha256(value: object) -> str:
    if not isinstance(value, str) or not _sha256_re.fullmatch(value.lower()):
        raise InvalidIdentifier(
            f"sha256 {str(value)[:80]!r} is not 64 hexadecimal characters",
            hint="Pass the lowercase hex digest, e.g. from `sha256sum FILE`.",
        )
    return value.lower()


class ArtifactName(NamedTuple):
    """The parts of an artifact filename: `<name>-<version>-<build>.<extension>`."""

    name: str
    version: str
    build: str
    extension: ArtifactFormat

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}.{self.extension}"

    @property
    def stem(self) -> str:
        """The distribution string without subdir: the filename minus its extension."""
        return f"{self.name}-{self.version}-{self.build}"


def artifact_format(filename: str) -> ArtifactFormat | None:
    """'conda' or 'tar.bz2' for an artifact filename, None for anything else."""
    if filename.endswith(".conda"):
        return "conda"
    if filename.endswith(".tar.bz2"):
        return "tar.bz2"
    return None


def is_artifact_filename(filename: str) -> bool:
    return artifact_format(filename) is not None


def parse_artifact_filename(filename: str) -> ArtifactName:
    """Split and validate an artifact filename (no directory part allowed).

    The name may contain '-', so the split is from the right: the last two '-' separate version
    and build, as conda does. The version may hold upper-case letters (artifacts that exist carry
    them; see `ARTIFACT_VERSION_PATTERN`).
    """
    if not isinstance(filename, str) or not filename:
        raise InvalidIdentifier("artifact filename must be a non-empty string")
    if "/" in filename or "\\" in filename or filename in {".", ".."}:
        raise InvalidIdentifier(
            f"artifact filename {filename!r} must not contain a directory part",
            hint="Pass a bare filename such as 'numpy-2.0.0-py312h0_0.conda'.",
        )
    if len(filename) > MAX_FILENAME:
        raise InvalidIdentifier(
            f"artifact filename is {len(filename)} characters long; the limit is {MAX_FILENAME}"
        )
    fmt = artifact_format(filename)
    if fmt is None:
        raise InvalidIdentifier(
            f"{filename!r} is not a conda artifact filename: it must end in .conda or .tar.bz2"
        )
    stem = filename[: -len(fmt) - 1]
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        raise InvalidIdentifier(
            f"artifact filename {filename!r} must look like <name>-<version>-<build>.{fmt}"
        )
    name, version, build = parts
    check_package_name(name)
    check_artifact_version(version)
    check_build_string(build)
    return ArtifactName(name, version, build, fmt)


def twin_filename(filename: str) -> str | None:
    """The `.conda` name for a `.tar.bz2` name and vice versa (patches apply to both)."""
    if filename.endswith(".tar.bz2"):
        return filename[: -len(".tar.bz2")] + ".conda"
    if filename.endswith(".conda"):
        return filename[: -len(".conda")] + ".tar.bz2"
    return None
