"""License policy: SPDX expressions after normalization, allow/deny globs, unknown strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockyard.mirror.errors import FilterError
from stockyard.mirror.license_policy import LicensePolicy, check_license_pattern

IDS = ["MIT", "BSD-3-Clause", "Apache-2.0", "GPL-3.0-only", "GPL-2.0-or-later", "LGPL-2.1-only"]


@pytest.mark.parametrize(
    ("license_text", "accepted"),
    [
        ("MIT", True),
        ("MIT License", True),
        ("BSD 3-Clause", True),
        ("GPL-3", False),  # normalized to GPL-3.0-only, matched by GPL-3.0*
        ("GPL-3.0-or-later", False),
        ("GPL-2.0-or-later", True),
        ("LGPL-2.1-or-later OR MIT", True),  # the MIT side is acceptable
        ("GPL-3.0-only OR MIT", True),
        ("GPL-3.0-only AND MIT", False),  # both are needed
        ("Apache-2.0 WITH LLVM-exception", True),
        ("GPL (>= 3) | file LICENSE", False),  # R's syntax
    ],
)
def test_deny_glob(license_text: str, accepted: bool) -> None:
    policy = LicensePolicy.build(deny=["GPL-3.0*"])
    assert policy.judge(license_text).accepted is accepted


def test_allow_list_needs_every_part_allowed() -> None:
    policy = LicensePolicy.build(allow=["MIT", "BSD-*"])
    assert policy.judge("MIT").accepted
    assert policy.judge("BSD-2-Clause").accepted
    assert not policy.judge("Apache-2.0").accepted
    assert policy.judge("Apache-2.0 OR MIT").accepted
    assert not policy.judge("Apache-2.0 AND MIT").accepted


def test_deny_wins_over_allow() -> None:
    policy = LicensePolicy.build(allow=["*"], deny=["AGPL-*"])
    assert policy.judge("MIT").accepted
    assert not policy.judge("AGPL-3.0-only").accepted


@pytest.mark.parametrize("text", [None, "", "BSD", "GPL", "Proprietary blob", "unknown"])
def test_unknown_follows_the_flag(text: str | None) -> None:
    allowing = LicensePolicy.build(deny=["GPL-3.0*"], unknown="allow")
    denying = LicensePolicy.build(deny=["GPL-3.0*"], unknown="deny")
    assert allowing.judge(text).accepted
    verdict = denying.judge(text)
    assert not verdict.accepted
    assert "--license-unknown deny" in verdict.reason


def test_inactive_policy_accepts_everything() -> None:
    policy = LicensePolicy.build()
    assert not policy.active
    assert LicensePolicy.build(unknown="deny").active


@pytest.mark.parametrize("pattern", ["GPL-3", "Not-A-License", "GPL 3.0", "XYZ*", "", "MIT;rm"])
def test_bad_patterns_are_refused(pattern: str) -> None:
    if pattern == "GPL-3":  # an alias: accepted, normalized
        assert check_license_pattern(pattern) == "gpl-3.0-only"
        return
    with pytest.raises(FilterError) as caught:
        check_license_pattern(pattern)
    assert caught.value.hint


def test_bad_unknown_value() -> None:
    with pytest.raises(FilterError, match="allow' or 'deny"):
        LicensePolicy.build(unknown="maybe")


def test_license_ref_ids() -> None:
    policy = LicensePolicy.build(deny=["LicenseRef-*"])
    assert not policy.judge("LicenseRef-Proprietary").accepted
    assert policy.judge("MIT").accepted


@given(st.sets(st.sampled_from(IDS), min_size=1, max_size=3), st.sampled_from(IDS))
def test_a_denied_id_is_never_needed(ids: set[str], denied: str) -> None:
    """AND of ids passes exactly when none is denied; OR passes when one is not denied."""
    policy = LicensePolicy.build(deny=[denied])
    conjunction = " AND ".join(sorted(ids))
    disjunction = " OR ".join(sorted(ids))
    assert policy.judge(conjunction).accepted == (denied not in ids)
    assert policy.judge(disjunction).accepted == (ids != {denied})
