from __future__ import annotations

from stockyard.recipes.license import find_license, license_files, license_from_text


def test_license_expression_first() -> None:
    finding = find_license("MIT OR Apache-2.0", ["License :: OSI Approved :: BSD License"], "BSD")
    assert (finding.spdx, finding.source) == ("MIT OR Apache-2.0", "License-Expression")


def test_classifiers_then_text() -> None:
    finding = find_license("", ["License :: OSI Approved :: MIT License"], "")
    assert (finding.spdx, finding.source) == ("MIT", "classifiers")
    finding = find_license("", ["License :: OSI Approved :: BSD License"], "Apache 2.0")
    assert (finding.spdx, finding.source) == ("Apache-2.0", "License")


def test_ambiguous_family_falls_to_the_license_file() -> None:
    bsd3 = (
        "Redistribution and use in source and binary forms, with or without modification...\n"
        "Neither the name of the copyright holder nor the names of its contributors may be "
        "used to endorse or promote products derived from this software"
    )
    finding = find_license("", ["License :: OSI Approved :: BSD License"], "BSD", [bsd3])
    assert (finding.spdx, finding.source) == ("BSD-3-Clause", "license file text")
    assert find_license("", [], "BSD").spdx is None
    assert license_from_text("some custom terms") is None


def test_whole_license_text_in_license_field_is_not_a_name() -> None:
    assert find_license("", [], "MIT License\n\nPermission is hereby granted...").spdx is None


def test_license_files() -> None:
    assert license_files(["LICENSE.txt"], []) == ["LICENSE.txt"]
    names = ["pkg/__init__.py", "pkg-1.0.dist-info/licenses/LICENSE", "pkg-1.0.dist-info/RECORD"]
    assert license_files([], names) == ["LICENSE"]
