"""The SPDX license of a Python distribution, and the files that hold its text.

Order of evidence: PEP 639 `License-Expression` (authoritative: the author wrote SPDX), then the
Trove classifiers (`License :: OSI Approved :: MIT License`; unambiguous ones only), then the
free-text `License` field read by `stockyard.types.licenses.normalize_license`. Whatever gives a
normalized expression first wins; where it came from is kept for the report.
"""

from __future__ import annotations

from dataclasses import dataclass

from stockyard.types.licenses import normalize_license

# Classifiers that name exactly one SPDX license. Family classifiers such as
# `License :: OSI Approved :: BSD License` or `... :: GNU General Public License (GPL)` name no
# version and are left for the License text to settle.
_CLASSIFIERS: dict[str, str] = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}
_PREFIX = "License :: OSI Approved :: "
_OTHER_PREFIX = "License :: "


@dataclass(frozen=True)
class LicenseFinding:
    """An SPDX expression (None: unknown) and the evidence it came from."""

    spdx: str | None
    source: str
    original: str


def _from_classifiers(classifiers: list[str]) -> str | None:
    found = []
    for classifier in classifiers:
        name = classifier.removeprefix(_PREFIX).removeprefix(_OTHER_PREFIX)
        if classifier.startswith(_OTHER_PREFIX) and name in _CLASSIFIERS:
            found.append(_CLASSIFIERS[name])
    if not found:
        return None
    # Several license classifiers mean the user may choose (the usual reading of dual licensing).
    unique = sorted(set(found))
    return normalize_license(" OR ".join(unique)) if len(unique) > 1 else unique[0]


def _license_text(text: str) -> str | None:
    # A License field sometimes holds the whole license text; only a short one names a license.
    stripped = text.strip()
    if not stripped or "\n" in stripped or len(stripped) > 100:
        return None
    return normalize_license(stripped)


# Phrases that identify a license text unambiguously, checked in order (BSD-3 before BSD-2:
# the 3-clause text contains the 2-clause one plus the endorsement clause).
_TEXT_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("MIT", ("permission is hereby granted, free of charge",)),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "endorse or promote")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("MPL-2.0", ("mozilla public license version 2.0",)),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
)


def license_from_text(text: str) -> str | None:
    """The SPDX id of a license file's text, for the common permissive licenses only."""
    folded = " ".join(text.lower().split())
    for spdx, phrases in _TEXT_MARKERS:
        if all(phrase in folded for phrase in phrases):
            return spdx
    return None


def find_license(
    expression: str, classifiers: list[str], text: str, file_texts: list[str] | None = None
) -> LicenseFinding:
    """The license of a distribution from its core metadata fields and license files."""
    if expression.strip():
        spdx = normalize_license(expression)
        if spdx is not None:
            return LicenseFinding(spdx, "License-Expression", expression)
    spdx = _from_classifiers(classifiers)
    if spdx is not None:
        return LicenseFinding(spdx, "classifiers", "; ".join(classifiers))
    spdx = _license_text(text)
    if spdx is not None:
        return LicenseFinding(spdx, "License", text)
    found = {license_from_text(file_text) for file_text in file_texts or []} - {None}
    if len(found) == 1:
        return LicenseFinding(found.pop(), "license file text", text)
    return LicenseFinding(None, "none", expression or text)


_LICENSE_STEMS = ("license", "licence", "copying", "notice", "copyright", "authors")


def license_files(declared: list[str], archive_names: list[str]) -> list[str]:
    """The license files to ship, relative to the source root.

    `License-File` (metadata 2.4: paths relative to the project root) when given; otherwise
    files the wheel holds under `*.dist-info/` (or `licenses/`) whose names read like licenses.
    """
    if declared:
        return list(dict.fromkeys(declared))
    found = []
    for name in archive_names:
        head, _, tail = name.partition(".dist-info/")
        if not head or not tail:
            continue
        relative = tail.removeprefix("licenses/")
        if relative.split("/")[-1].lower().startswith(_LICENSE_STEMS):
            found.append(relative)
    return list(dict.fromkeys(found))
