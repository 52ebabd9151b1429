from __future__ import annotations

import pytest
from packaging.markers import Marker

from stockyard.recipes.markers import evaluate


@pytest.mark.parametrize(
    ("marker", "platform", "bounds"),
    [
        ('sys_platform == "win32"', "win", ()),
        ('platform_system == "Windows"', "win", ()),
        ('os_name == "nt"', "win", ()),
        ('sys_platform != "win32"', "unix", ()),
        ('sys_platform == "linux"', "linux", ()),
        ('sys_platform == "darwin" and platform_machine == "arm64"', "osx and arm64", ()),
        ('python_version < "3.11"', None, (("<", "3.11"),)),
        ('python_version >= "3.12"', None, ((">=", "3.12"),)),
        (
            'python_full_version >= "3.11.0" and python_version < "3.13"',
            None,
            ((">=", "3.11"), ("<", "3.13")),
        ),
    ],
)
def test_selectors(marker: str, platform: str | None, bounds: tuple[object, ...]) -> None:
    outcome = evaluate(Marker(marker), "3.10")
    assert not outcome.never
    assert outcome.platform_selector == platform
    assert outcome.python_bounds == bounds


@pytest.mark.parametrize(
    "marker",
    [
        'python_version < "3.6"',
        'platform_python_implementation == "PyPy"',
        'extra == "socks"',
        'sys_platform == "win32" and sys_platform == "linux"',
    ],
)
def test_markers_that_never_hold(marker: str) -> None:
    assert evaluate(Marker(marker), "3.10").never


def test_extra_markers_hold_for_their_extra() -> None:
    assert not evaluate(Marker('extra == "socks"'), "3.10", extra="socks").never
