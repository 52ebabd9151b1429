"""Environment markers (PEP 508) to conda selectors.

A marker is evaluated on a grid: the platforms conda-forge builds for, times every Python from
the recipe's `python_min` to `MAX_PYTHON`. What it is true for decides what the recipe says:

- true everywhere: an unconditional requirement;
- true nowhere (`python_version < "3.6"` with `python_min` 3.9, `extra == "x"` outside that
  extra): left out;
- true on some platforms: a selector (`win`, `unix`, `linux and aarch64`);
- true for some Pythons: for a `noarch: python` recipe the requirement is kept unconditionally
  (the one build must work on every Python it allows, conda-forge's `python_min` idiom); a
  compiled recipe, built per Python, gets `match(python, "<3.11")`.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.markers import Marker

MAX_PYTHON = (3, 14)

PLATFORMS: dict[str, dict[str, str]] = {
    "linux-64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
    "linux-aarch64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
    },
    "osx-64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64"},
    "osx-arm64": {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "platform_machine": "arm64",
    },
    "win-64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
}
_OS_OF = {"linux-64": "linux", "linux-aarch64": "linux", "osx-64": "osx", "osx-arm64": "osx"}
_MACHINE_SELECTOR = {"linux-aarch64": "aarch64", "osx-arm64": "arm64", "linux-64": "x86_64"}
_MACHINE_SELECTOR["osx-64"] = "x86_64"
_OS_GROUPS = {
    "linux": frozenset({"linux-64", "linux-aarch64"}),
    "osx": frozenset({"osx-64", "osx-arm64"}),
    "win": frozenset({"win-64"}),
}


def _os(subdir: str) -> str:
    return _OS_OF.get(subdir, "win")


@dataclass(frozen=True)
class MarkerOutcome:
    """Where a marker is true: platforms and Pythons (minor versions)."""

    subdirs: frozenset[str]
    pythons: frozenset[tuple[int, int]]
    all_pythons: frozenset[tuple[int, int]]

    @property
    def never(self) -> bool:
        return not self.subdirs

    @property
    def platform_selector(self) -> str | None:
        return platform_selector(self.subdirs)

    @property
    def python_bounds(self) -> tuple[tuple[str, str], ...]:
        return python_bounds(self.pythons, self.all_pythons)

    def holds_for(self, python: tuple[int, int]) -> bool:
        return python in self.pythons


def pythons_from(python_min: str) -> list[tuple[int, int]]:
    major, minor = (int(part) for part in python_min.split(".")[:2])
    return [(major, m) for m in range(minor, MAX_PYTHON[1] + 1)] or [(major, minor)]


def _environment(subdir: str, python: tuple[int, int], extra: str) -> dict[str, str]:
    version = f"{python[0]}.{python[1]}"
    return {
        **PLATFORMS[subdir],
        "os_name": "nt" if _os(subdir) == "win" else "posix",
        "python_version": version,
        "python_full_version": f"{version}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "implementation_version": f"{version}.0",
        "platform_release": "",
        "platform_version": "",
        "extra": extra,
    }


def evaluate(marker: Marker | None, python_min: str, extra: str = "") -> MarkerOutcome:
    """Where `marker` holds, for the given extra (`""`: the base requirements)."""
    pythons = pythons_from(python_min)
    if marker is None:
        return MarkerOutcome(frozenset(PLATFORMS), frozenset(pythons), frozenset(pythons))
    subdirs: set[str] = set()
    true_pythons: set[tuple[int, int]] = set()
    for subdir in PLATFORMS:
        for python in pythons:
            if marker.evaluate(_environment(subdir, python, extra)):
                subdirs.add(subdir)
                true_pythons.add(python)
    return MarkerOutcome(frozenset(subdirs), frozenset(true_pythons), frozenset(pythons))


def platform_selector(subdirs: frozenset[str]) -> str | None:
    """The shortest selector true on exactly these subdirs (None: on every one)."""
    if subdirs == frozenset(PLATFORMS):
        return None
    whole = [name for name, group in _OS_GROUPS.items() if group <= subdirs]
    terms = ["unix" if name == "linux" and "osx" in whole else name for name in whole]
    if "unix" in terms:
        terms.remove("osx")
    covered: frozenset[str] = frozenset().union(*(_OS_GROUPS[name] for name in whole))
    for subdir in sorted(subdirs - covered):
        terms.append(f"({_os(subdir)} and {_MACHINE_SELECTOR[subdir]})")
    text = " or ".join(terms)
    return text[1:-1] if len(terms) == 1 and text.startswith("(") else text


def python_bounds(
    pythons: frozenset[tuple[int, int]], all_pythons: frozenset[tuple[int, int]]
) -> tuple[tuple[str, str], ...]:
    """Version bounds (`(">=", "3.11")`) for the Pythons concerned; `()` when all are."""
    if not pythons or pythons == all_pythons:
        return ()
    low, high = min(pythons), max(pythons)
    bounds = []
    if low != min(all_pythons):
        bounds.append((">=", f"{low[0]}.{low[1]}"))
    if high != max(all_pythons):
        bounds.append(("<", f"{high[0]}.{high[1] + 1}"))
    return tuple(bounds)


def virtual_package(selector: str) -> list[tuple[str, str]]:
    """The `__unix`/`__win`/... run requirements a noarch recipe needs for an OS selector."""
    families = {"unix": "__unix", "win": "__win", "linux": "__linux", "osx": "__osx"}
    return [(name, package) for name, package in families.items() if name in selector.split()]
