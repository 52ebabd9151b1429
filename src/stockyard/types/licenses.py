"""Free-form `license` strings of real channels, read as SPDX expressions.

Records carry whatever their recipe said: SPDX (`BSD-3-Clause`), R's DESCRIPTION syntax
(`GPL (>= 2) | file LICENSE`, `MIT + file LICENSE`), or prose (`Apache License 2.0`,
`BSD 3-Clause`). Policies (mirror filters, upload policies, recipe lint) need one reading of
them, so this module turns each into a normalized SPDX expression with the `license-expression`
library, after rewriting the common non-SPDX spellings, or says it cannot (`None`): ambiguous
family names such as `BSD`, `GPL` or `LGPL` without a version are *unknown*, never guessed, and
callers decide what unknown means (`--license-unknown allow|deny`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from license_expression import (
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    get_spdx_licensing,
)

__all__ = ["license_ids", "normalize_license", "satisfiable"]

# Lower-cased, whitespace-collapsed spellings seen in conda-forge, defaults and R channels.
_ALIASES: dict[str, str] = {
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0",
    "apache license (== 2.0)": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "asl 2.0": "Apache-2.0",
    "bsd 2-clause": "BSD-2-Clause",
    "bsd-2": "BSD-2-Clause",
    "bsd_2_clause": "BSD-2-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "bsd-3": "BSD-3-Clause",
    "bsd_3_clause": "BSD-3-Clause",
    "new bsd": "BSD-3-Clause",
    "bsd 3-clause license": "BSD-3-Clause",
    "cc0": "CC0-1.0",
    "cc-by-4.0": "CC-BY-4.0",
    "public domain": "LicenseRef-Public-Domain",
    "unlimited": "LicenseRef-Unlimited",
    "mit license": "MIT",
    "the mit license": "MIT",
    "expat": "MIT",
    "isc license": "ISC",
    "mozilla public license 2.0": "MPL-2.0",
    "mpl2": "MPL-2.0",
    "zlib license": "Zlib",
    "psf": "PSF-2.0",
    "python software foundation license": "PSF-2.0",
    "gpl-2": "GPL-2.0-only",
    "gplv2": "GPL-2.0-only",
    "gpl2": "GPL-2.0-only",
    "gpl 2": "GPL-2.0-only",
    "gpl version 2": "GPL-2.0-only",
    "gpl-3": "GPL-3.0-only",
    "gplv3": "GPL-3.0-only",
    "gpl3": "GPL-3.0-only",
    "gpl 3": "GPL-3.0-only",
    "gpl version 3": "GPL-3.0-only",
    "gpl (>= 2)": "GPL-2.0-or-later",
    "gpl (>= 2.0)": "GPL-2.0-or-later",
    "gpl-2+": "GPL-2.0-or-later",
    "gplv2+": "GPL-2.0-or-later",
    "gnu general public license v2 or later (gplv2+)": "GPL-2.0-or-later",
    "gpl (>= 3)": "GPL-3.0-or-later",
    "gpl (>= 3.0)": "GPL-3.0-or-later",
    "gpl-3+": "GPL-3.0-or-later",
    "gplv3+": "GPL-3.0-or-later",
    "gnu general public license v3 or later (gplv3+)": "GPL-3.0-or-later",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "lgpl-2": "LGPL-2.0-only",
    "lgpl (>= 2)": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl (>= 2.1)": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only",
    "lgpl3": "LGPL-3.0-only",
    "lgplv3": "LGPL-3.0-only",
    "lgpl (>= 3)": "LGPL-3.0-or-later",
    "agpl-3": "AGPL-3.0-only",
    "agplv3": "AGPL-3.0-only",
    "lucent public license": "LPL-1.02",
}

# Family names without a version: license-expression would read `GPL` as GPL-1.0-or-later, but
# recipes that write it rarely mean that, so they stay unknown.
_AMBIGUOUS = frozenset({"bsd", "gpl", "lgpl", "agpl", "apache", "mpl", "cc", "various", "other"})

# R's `+ file LICENSE` and a bare `file LICENSE` add terms in a file; they name no license.
_FILE_CLAUSE = re.compile(r"\s*\+?\s*\bfile\s+licen[cs]e\b(\s*\([^)]*\))?", re.IGNORECASE)
# A leading SPDX id already normalized by the alias table or the parser.
_SPACES = re.compile(r"\s+")


@cache
def _licensing() -> Licensing:
    return get_spdx_licensing()


def _alias(term: str) -> str:
    key = _SPACES.sub(" ", term.strip()).lower()
    return _ALIASES.get(key, term.strip())


def _rewrite(text: str) -> str:
    """Rewrite R's `|` alternatives and known prose spellings into SPDX syntax."""
    without_files = _FILE_CLAUSE.sub("", text)
    alternatives = [part for part in without_files.split("|") if part.strip()]
    return " OR ".join(_wrap(_alias(part)) for part in alternatives)


def _wrap(term: str) -> str:
    return f"({term})" if " " in term.strip() else term


@cache
def normalize_license(text: str | None) -> str | None:
    """The normalized SPDX expression `text` means, or None when it cannot be read as one.

    `LicenseRef-...` ids are kept (SPDX allows them); unknown bare words are not.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    if text.strip().lower() in _AMBIGUOUS | {"none", "unknown"}:
        return None
    for candidate in (text, _rewrite(text)):
        parsed = _parse(candidate)
        if parsed is not None:
            return str(parsed.render())
    return None


def _parse(candidate: str) -> Any:
    if not candidate.strip():
        return None
    licensing = _licensing()
    try:
        parsed = licensing.parse(candidate, validate=False, strict=False)
    except ExpressionError:
        return None
    if parsed is None:
        return None
    unknown = [
        key
        for key in licensing.unknown_license_keys(parsed)
        if not str(key).startswith("LicenseRef-")
    ]
    return None if unknown else parsed


def license_ids(expression: str) -> frozenset[str]:
    """Every license id (exceptions left out) an already normalized expression names."""
    parsed = _licensing().parse(expression, validate=False)
    symbols = _licensing().license_symbols(parsed, decompose=False)
    return frozenset(_symbol_key(symbol) for symbol in symbols)


def _symbol_key(symbol: Any) -> str:
    if isinstance(symbol, LicenseWithExceptionSymbol):
        return str(symbol.license_symbol.key)
    return str(symbol.key)


def satisfiable(expression: str, accepts: Callable[[str], bool]) -> bool:
    """Whether a user can take `expression` using only licenses that `accepts` approves.

    `A OR B` needs one acceptable side, `A AND B` needs both; `X WITH exception` is judged by X.
    """
    return _satisfiable(_licensing().parse(expression, validate=False), accepts)


def _satisfiable(node: Any, accepts: Callable[[str], bool]) -> bool:
    licensing = _licensing()
    if isinstance(node, LicenseSymbol | LicenseWithExceptionSymbol):
        return accepts(_symbol_key(node))
    if isinstance(node, licensing.AND):
        return all(_satisfiable(arg, accepts) for arg in node.args)
    if isinstance(node, licensing.OR):
        return any(_satisfiable(arg, accepts) for arg in node.args)
    raise TypeError(f"unexpected license expression node {node!r}")
