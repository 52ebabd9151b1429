"""A proxy channel's stored `ProxyPolicy`, compiled: checked upstream URLs and the filters.

The filters are the mirror's (`stockyard.mirror.filters`), applied record by record: `--subdir`
(other subdirs are 404), `--exclude`, the date window and the license policy (hard filters),
and `--include` (a record must match one spec). `--latest` and `--with-dependencies` need a
whole subdir at once and have no meaning for a read-through cache, so a proxy has neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from stockyard.mirror.errors import FilterError
from stockyard.mirror.fetch import redact as redact_url
from stockyard.mirror.filters import CompiledFilters, MirrorFilters
from stockyard.mirror.license_policy import LicensePolicy
from stockyard.mirror.records import Candidate
from stockyard.types.errors import ConfigError, Conflict
from stockyard.types.policy import ProxyPolicy


def check_upstream_url(url: str) -> str:
    """An upstream of a proxy: an absolute http(s) URL, kept without a trailing slash."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an invalid IPv6 literal and the like
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"proxy upstream {url!r} is not an http(s) URL",
            hint="Give the channel's URL, e.g. https://conda.anaconda.org/conda-forge (with "
            "/t/<token>/ before the channel name when it is private).",
        )
    return url.strip().rstrip("/")


def _date(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(f"{option} {text!r} is not a date", hint="Use 2024-01-31.") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def mirror_filters(policy: ProxyPolicy) -> MirrorFilters:
    return MirrorFilters(
        subdirs=policy.subdirs,
        include=policy.include,
        exclude=policy.exclude,
        newer_than=_date(policy.newer_than, "newer_than"),
        older_than=_date(policy.older_than, "older_than"),
        licenses=LicensePolicy.build(
            policy.license_allow, policy.license_deny, policy.license_unknown
        ),
    )


def check_proxy_policy(policy: ProxyPolicy) -> ProxyPolicy:
    """The policy with its URLs normalized; ConfigError or FilterError naming what is wrong."""
    import msgspec

    upstreams = tuple(check_upstream_url(url) for url in policy.upstreams)
    for index, url in enumerate(upstreams):
        if url in upstreams[:index]:
            # Conflict (409), not a bad request: each URL alone is valid, the list is not.
            raise Conflict(
                f"proxy upstream {redact_url(url)!r} is given twice",
                hint="List each upstream once, in the order they are tried.",
            )
    checked = msgspec.structs.replace(policy, upstreams=upstreams)
    mirror_filters(checked).compile()
    return checked


@dataclass(frozen=True, slots=True)
class ProxySettings:
    policy: ProxyPolicy
    compiled: CompiledFilters | None

    @classmethod
    def from_policy(cls, policy: ProxyPolicy) -> ProxySettings:
        policy = check_proxy_policy(policy)
        compiled = mirror_filters(policy).compile() if policy.filtered else None
        return cls(policy, compiled)

    @property
    def upstreams(self) -> tuple[str, ...]:
        return self.policy.upstreams

    def serves_subdir(self, subdir: str) -> bool:
        return not self.policy.subdirs or subdir in self.policy.subdirs

    def keeps(self, subdir: str, filename: str, record: dict[str, Any]) -> bool:
        """Whether the filters let this record through."""
        if self.compiled is None:
            return True
        candidate = Candidate(subdir, filename, record)
        if self.compiled.hard_refusal(candidate) is not None:
            return False
        include = self.compiled.include
        return not include or any(spec.matches(candidate) for spec in include)
