"""License policy: which records a mirror (or later an upload policy) accepts by their license.

A record's free-form `license` string is read as an SPDX expression by
`stockyard.types.licenses.normalize_license`. The record passes when the expression can be
satisfied using only acceptable licenses (`satisfiable`): a license is acceptable when no deny
pattern matches it and, if allow patterns are given, one of them does. `A OR B` needs one
acceptable side, `A AND B` both. A string that cannot be read (missing, prose we do not know,
an ambiguous family name such as `BSD`) follows `unknown`: "allow" or "deny".

Patterns are SPDX ids (`MIT`, `GPL-3.0-only`, `LicenseRef-Proprietary`), compared without
regard to case, or globs with `*` (`GPL-3.0*`, `*`). They are checked when the policy is built:
an id SPDX does not know, or a glob matching no SPDX id, is an error rather than a filter that
silently never matches.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from stockyard.mirror.errors import FilterError

UnknownLicense = Literal["allow", "deny"]

_PATTERN_CHARS = re.compile(r"^[A-Za-z0-9.+*-]+$")
_LICENSE_REF = "licenseref-"


@cache
def _known_ids() -> tuple[str, ...]:
    """Every license id the SPDX licensing knows, lower-cased (glob patterns match these)."""
    from license_expression import get_spdx_licensing

    return tuple(key.lower() for key in get_spdx_licensing().known_symbols)


def check_license_pattern(pattern: str) -> str:
    """The pattern as it is matched (lower case), or FilterError when it can never match."""
    # Imported where used: SPDX parsing is only needed when a license policy is given.
    from stockyard.types.licenses import license_ids, normalize_license

    text = pattern.strip()
    if not text or not _PATTERN_CHARS.fullmatch(text):
        raise FilterError(
            f"license pattern {pattern!r} is not an SPDX license id or a glob of one",
            hint="Use ids such as MIT, GPL-3.0-only, LicenseRef-Proprietary, or globs such as "
            "'GPL-3.0*'.",
        )
    lowered = text.lower()
    if "*" in lowered:
        if lowered.startswith(_LICENSE_REF) or any(
            fnmatch.fnmatchcase(known, lowered) for known in _known_ids()
        ):
            return lowered
        raise FilterError(
            f"license pattern {pattern!r} matches no SPDX license id",
            hint="Check the spelling against https://spdx.org/licenses/.",
        )
    normalized = normalize_license(text)
    ids = license_ids(normalized) if normalized is not None else frozenset()
    if len(ids) != 1:
        raise FilterError(
            f"license id {pattern!r} is not an SPDX license id",
            hint="Check the spelling against https://spdx.org/licenses/ (or use "
            "LicenseRef-<name> for a license of your own).",
        )
    return next(iter(ids)).lower()


@dataclass(frozen=True, slots=True)
class LicenseVerdict:
    accepted: bool
    #: Why, in words (`--explain`).
    reason: str


@dataclass(frozen=True, slots=True)
class LicensePolicy:
    """Allow and deny patterns (already checked, lower case) and what unknown strings get."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    unknown: UnknownLicense = "allow"

    @classmethod
    def build(
        cls, allow: Iterable[str] = (), deny: Iterable[str] = (), unknown: str = "allow"
    ) -> LicensePolicy:
        if unknown not in ("allow", "deny"):
            raise FilterError(
                f"--license-unknown must be 'allow' or 'deny', not {unknown!r}",
                hint="Pass --license-unknown allow (the default) or --license-unknown deny.",
            )
        return cls(
            allow=tuple(check_license_pattern(p) for p in allow),
            deny=tuple(check_license_pattern(p) for p in deny),
            unknown=unknown,  # type: ignore[arg-type]  # checked above
        )

    @property
    def active(self) -> bool:
        """Whether the policy can refuse anything."""
        return bool(self.allow or self.deny) or self.unknown == "deny"

    def acceptable(self, license_id: str) -> bool:
        key = license_id.lower()
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in self.deny):
            return False
        return not self.allow or any(fnmatch.fnmatchcase(key, p) for p in self.allow)

    def judge(self, license_text: object) -> LicenseVerdict:
        """The verdict on a record's `license` value."""
        from stockyard.types.licenses import license_ids, normalize_license, satisfiable

        text = license_text if isinstance(license_text, str) else None
        expression = normalize_license(text)
        if expression is None:
            shown = repr(text) if text else "no license"
            return LicenseVerdict(
                self.unknown == "allow",
                f"license {shown} is not a readable SPDX expression "
                f"(--license-unknown {self.unknown})",
            )
        if satisfiable(expression, self.acceptable):
            return LicenseVerdict(True, f"license {expression} is allowed by the policy")
        refused = sorted(i for i in license_ids(expression) if not self.acceptable(i))
        return LicenseVerdict(
            False, f"license {expression} needs a license the policy refuses ({', '.join(refused)})"
        )
