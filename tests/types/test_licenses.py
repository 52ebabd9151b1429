"""Free-form license strings of real channels read as SPDX expressions."""

from __future__ import annotations

import pytest

from stockyard.types.licenses import license_ids, normalize_license, satisfiable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BSD-3-Clause", "BSD-3-Clause"),
        ("BSD 3-Clause", "BSD-3-Clause"),
        ("MIT License", "MIT"),
        ("mit", "MIT"),
        ("GPL-3", "GPL-3.0-only"),
        ("GPL3", "GPL-3.0-only"),
        ("GPL-2.0+", "GPL-2.0-or-later"),
        ("GPL (>= 2)", "GPL-2.0-or-later"),
        ("MIT + file LICENSE", "MIT"),
        ("GPL-2 | GPL-3", "GPL-2.0-only OR GPL-3.0-only"),
        ("GPL-3 | file LICENSE", "GPL-3.0-only"),
        ("Apache License (== 2.0)", "Apache-2.0"),
        ("LGPL-2.1-or-later OR MIT", "LGPL-2.1-or-later OR MIT"),
        ("CC0", "CC0-1.0"),
        ("LicenseRef-Acme", "LicenseRef-Acme"),
    ],
)
def test_real_spellings_normalize_to_spdx(text: str, expected: str) -> None:
    assert normalize_license(text) == expected


@pytest.mark.parametrize(
    "text", [None, "", "None", "BSD", "GPL", "Proprietary", "file LICENSE", "Commercial or AGPLv3"]
)
def test_ambiguous_or_unknown_strings_are_unknown(text: str | None) -> None:
    assert normalize_license(text) is None


def test_license_ids_leave_out_exceptions() -> None:
    expression = "MIT AND (Apache-2.0 OR GPL-2.0-only WITH Classpath-exception-2.0)"
    assert license_ids(expression) == {"MIT", "Apache-2.0", "GPL-2.0-only"}


def test_or_needs_one_acceptable_side_and_needs_all() -> None:
    no_gpl = lambda key: not key.startswith("GPL")  # noqa: E731
    assert satisfiable("MIT OR GPL-3.0-only", no_gpl)
    assert not satisfiable("MIT AND GPL-3.0-only", no_gpl)
    assert satisfiable("MIT AND (GPL-3.0-only OR Apache-2.0)", no_gpl)
    assert not satisfiable("GPL-2.0-only WITH Classpath-exception-2.0", no_gpl)
