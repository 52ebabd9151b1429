from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from stockyard.scan.matching import affected_match, match_version, range_affects
from stockyard.scan.osv import (
    Event,
    LoadResult,
    OsvLoadError,
    Range,
    load_osv_export,
    parse_document,
)
from stockyard.scan.severity import advisory_severity, level_for_score
from stockyard.scan.versions import semver_key, version_key
from tests.scan.conftest import OSV_FOLDER, zip_folder


def _range(ordering: str, *events: tuple[str, str]) -> Range:
    return Range(ordering, tuple(Event(kind, version) for kind, version in events))  # type: ignore[arg-type]


def _affects(rng: Range, version: str) -> bool:
    key = version_key(rng.ordering, version)
    assert key is not None
    return range_affects(rng, key)


def test_loads_the_zip_and_the_folder_alike(osv_zip: Path) -> None:
    from_zip, from_folder = load_osv_export(osv_zip), load_osv_export(OSV_FOLDER)
    assert from_zip.advisories == from_folder.advisories
    assert len(from_zip.advisories) == 7
    assert from_zip.withdrawn == 1
    assert from_zip.ignored_ranges == 1  # PYSEC-2023-74's GIT range
    assert from_zip.skipped_documents == 0
    jinja = {a.id: a for a in from_zip.advisories}["GHSA-h5c8-rqwp-cp95"]
    assert jinja.affected[0].name == "jinja2"  # "Jinja2" normalized
    assert (jinja.severity, jinja.score) == ("medium", 5.4)


def test_real_shaped_matches() -> None:
    advisories = load_osv_export(OSV_FOLDER).advisories

    def ids(name: str, version: str) -> set[str]:
        return {m.advisory.id for m in match_version("PyPI", name, version, advisories)}

    assert ids("requests", "2.30.0") == {"GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"}
    assert ids("requests", "2.31.0") == set()
    assert ids("requests", "2.2.1") == set()  # introduced 2.3.0
    assert ids("urllib3", "1.26.4") == {"GHSA-q2q7-5pp4-w6pg", "GHSA-v845-jxx5-vc9f"}
    assert ids("urllib3", "1.26.17") == set()
    assert ids("urllib3", "1.99") == set()  # between the two ranges
    assert ids("urllib3", "2.0.5") == {"GHSA-v845-jxx5-vc9f"}
    assert ids("urllib3", "2.0.6") == set()
    assert ids("jinja2", "2.11.2") == {"GHSA-h5c8-rqwp-cp95", "GHSA-g3rq-g295-4j3m"}
    assert ids("pillow", "10.1.0") == {"GHSA-3f63-hfp8-52jq"}
    assert ids("pillow", "10.2.0.dev0") == {"GHSA-3f63-hfp8-52jq"}  # a pre-release of the fix


def test_explicit_versions_use_pep440_equality() -> None:
    advisory = load_osv_export(OSV_FOLDER).advisories
    pysec = next(a for a in advisory if a.id == "PYSEC-2023-74")
    assert affected_match(pysec.affected[0], "2.4") is not None  # listed as 2.4.0


def test_last_affected_and_limit() -> None:
    last = _range("pep440", ("introduced", "0"), ("last_affected", "2.1.214"))
    assert _affects(last, "2.1.214") and not _affects(last, "2.1.215")
    limited = _range("semver", ("introduced", "1.0.0"), ("limit", "1.5.0"))
    assert _affects(limited, "1.4.9") and not _affects(limited, "1.5.0")
    star = _range("semver", ("introduced", "1.0.0"), ("limit", "*"))
    assert _affects(star, "99.0.0")
    # unsorted events are sorted before walking them
    unsorted = _range("pep440", ("fixed", "1.2"), ("introduced", "1.0"))
    assert _affects(unsorted, "1.1") and not _affects(unsorted, "1.2")


def test_semver_precedence() -> None:
    order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
    ]
    keys = [semver_key(v) for v in order]
    assert all(k is not None for k in keys)
    assert keys == sorted(keys)  # type: ignore[type-var]
    assert semver_key("1.0.0+build") == semver_key("1.0.0")
    assert semver_key("01.0.0") is None


versions = st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)).map(
    lambda t: ".".join(map(str, t))
)


@given(st.lists(versions, min_size=1, max_size=6, unique=True), versions)
def test_introduced_fixed_pairs_are_half_open_intervals(bounds: list[str], probe: str) -> None:
    """Alternating introduced/fixed events over sorted versions: affected exactly when the probe
    lies in one of the [introduced, fixed) intervals (the last one open-ended when odd)."""
    ordered = sorted(bounds, key=Version)
    events = [("introduced" if i % 2 == 0 else "fixed", v) for i, v in enumerate(ordered)]
    rng = _range("pep440", *reversed(events))  # document order must not matter
    inside = False
    for i in range(0, len(ordered), 2):
        low = Version(ordered[i])
        high = Version(ordered[i + 1]) if i + 1 < len(ordered) else None
        inside = inside or (Version(probe) >= low and (high is None or Version(probe) < high))
    assert _affects(rng, probe) == inside


def _document(ranges: object, **extra: object) -> dict[str, object]:
    return {
        "id": "TEST-1",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": ranges}],
        **extra,
    }


@pytest.mark.parametrize(
    "bad_range",
    [
        {"type": "ECOSYSTEM", "events": []},
        {"type": "ECOSYSTEM", "events": [{"fixed": "1.0"}]},
        {"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1.0"}]},
        {"type": "ECOSYSTEM", "events": [{"introduced": "not a version!"}]},
        {"type": "ECOSYSTEM", "events": [{"introduced": 1}]},
        {
            "type": "ECOSYSTEM",
            "events": [{"introduced": "0"}, {"fixed": "2"}, {"last_affected": "1"}],
        },
        {"type": "ECOSYSTEM", "events": "nope"},
        {"events": [{"introduced": "0"}]},
        "string",
    ],
)
def test_malformed_ranges_are_skipped_and_counted(bad_range: object) -> None:
    good = {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}
    result = LoadResult()
    advisory = parse_document(_document([bad_range, good]), "doc", result)
    assert advisory is not None and len(advisory.affected[0].ranges) == 1
    assert result.skipped_ranges == 1 and result.warning_count == 1


def test_bad_export_members_are_warnings_not_crashes(tmp_path: Path) -> None:
    extra = {
        "README.txt": b"hello",
        "broken.json": b"{not json",
        "list.json": b"[1, 2]",
        "deep.json": b"[" * 100_000,
        "bad-affected.json": json.dumps({"id": "X", "affected": "x"}).encode(),
        "bad-range.json": json.dumps(
            _document([{"type": "SEMVER", "events": [{"x": "1"}]}])
        ).encode(),
    }
    result = load_osv_export(zip_folder(OSV_FOLDER, tmp_path / "all.zip", extra))
    assert len(result.advisories) == 7
    assert result.skipped_documents == 4
    assert result.skipped_ranges == 1
    assert any("README.txt" in w for w in result.warnings)


def test_unreadable_exports(tmp_path: Path) -> None:
    with pytest.raises(OsvLoadError):
        load_osv_export(tmp_path / "missing.zip")
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 truncated")
    result = load_osv_export(tmp_path / "bad.zip")  # not a zip: read as a (non-.json) file
    assert result.advisories == []


def test_severity_sources() -> None:
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    assert advisory_severity({"severity": [{"type": "CVSS_V3", "score": vector}]}) == (
        "critical",
        9.8,
    )
    assert advisory_severity({"database_specific": {"severity": "MODERATE"}}) == ("medium", None)
    assert advisory_severity({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/garbage"}]}) == (
        "unknown",
        None,
    )
    pkg_level = {"affected": [{"severity": [{"type": "CVSS_V3", "score": vector}]}]}
    assert advisory_severity(pkg_level)[0] == "critical"
    assert [level_for_score(s) for s in (0.0, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
    ]
