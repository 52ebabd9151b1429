"""PEP 440 version specifiers to conda MatchSpec version constraints.

Most PEP 440 operators mean the same in conda and pass through; the others are rewritten:

- `~=1.4.2` (compatible release) is `>=1.4.2,<1.5`; `~=2.1` is `>=2.1,<3`.
- `==1.4.*` is conda's `1.4.*`; `!=1.4.*` stays (conda reads it the same way).
- `===1.0` (arbitrary equality, a string comparison) has no conda form: it becomes `==1.0`, with
  a note, since conda has no string equality.
- Local versions (`==1.0+cpu`) lose their label (`==1.0`), with a note: conda-forge builds
  carry the public version only, so a pin on the label would match nothing.
- Pre-releases pass through (`>=2.0rc1`): conda orders `a` < `b` < `rc` < final < `post` like
  PEP 440. A dev release loses the dot before `dev` (`>=1.0.dev0` becomes `>=1.0dev0`): conda
  reads `1.0.dev0` as a fourth component, which sorts it *after* `1.0a1`, while `1.0dev0` sorts
  before every pre-release as PEP 440 wants.

Every constraint produced is parsed with `rattler.MatchSpec` before it is returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version


@dataclass
class Translation:
    """A conda constraint (`""` for any version) and notes about what it could not keep."""

    constraint: str
    notes: list[str] = field(default_factory=list)


def _compatible_release(version: str) -> str:
    try:
        release = Version(version).release
    except InvalidVersion:
        return f">={version}"
    prefix = list(release[: max(len(release) - 1, 1)])
    prefix[-1] += 1
    return f">={version},<{'.'.join(str(part) for part in prefix)}"


def _one(spec: Specifier, notes: list[str]) -> list[str]:
    operator, version = spec.operator, spec.version
    if operator == "~=":
        return _compatible_release(version).split(",")
    if operator == "===":
        notes.append(f"'==={version}' (arbitrary equality) became '=={version}'")
        return [f"=={version}"]
    if "+" in version:
        # conda-forge builds carry the public version only, so the local label is dropped.
        notes.append(f"local version label dropped from '{operator}{version}'")
        version = version.split("+", 1)[0]
    version = version.replace(".dev", "dev")
    if operator == "==" and version.endswith(".*"):
        return [version]
    return [f"{operator}{version}"]


def _order(constraint: str) -> tuple[int, str]:
    # Lower bounds first, then upper bounds, then exclusions: how recipes are usually written.
    rank = {">": 0, "=": 1, "<": 2, "!": 3}
    return (rank.get(constraint[0], 1), constraint)


def translate(specifiers: SpecifierSet | str) -> Translation:
    """The conda constraint equivalent to a PEP 440 specifier set."""
    if isinstance(specifiers, str):
        try:
            specifiers = SpecifierSet(specifiers)
        except InvalidSpecifier as exc:
            return Translation("", [f"invalid specifier {specifiers!r} left out: {exc}"])
    notes: list[str] = []
    parts: list[str] = []
    for spec in specifiers:
        for piece in _one(spec, notes):
            if piece not in parts:
                parts.append(piece)
    return Translation(",".join(sorted(parts, key=_order)), notes)


def matchspec(name: str, constraint: str) -> str:
    """`name constraint`, checked to be a valid conda MatchSpec."""
    from rattler import MatchSpec

    text = f"{name} {constraint}".strip()
    MatchSpec(text)
    return text
