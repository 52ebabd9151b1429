"""channeldata.json entries (CEP 38) from hand-made artifacts."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from stockyard.publish.channeldata import (
    PATH_FLAGS,
    ArtifactSummary,
    channeldata_entry,
    icon_path,
    render_channeldata,
    timestamp_seconds,
)
from stockyard.types.channeldata import Channeldata

NO_FLAGS = dict.fromkeys(PATH_FLAGS, False)


def artifact(
    subdir: str,
    version: str,
    build: str = "0",
    *,
    name: str = "pkg",
    ext: str = ".tar.bz2",
    timestamp: int | None = 1_600_000_000_000,
    build_number: int = 0,
    about: dict[str, Any] | None = None,
    flags: dict[str, bool] | None = None,
    **kwargs: Any,
) -> ArtifactSummary:
    record: dict[str, Any] = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": build_number,
        "subdir": subdir,
        "license": "BSD",
    }
    if timestamp is not None:
        record["timestamp"] = timestamp
    return ArtifactSummary(
        filename=f"{name}-{version}-{build}{ext}",
        subdir=subdir,
        record=record,
        about=about,
        path_flags=flags if flags is not None else dict(NO_FLAGS),
        **kwargs,
    )


def validate(entry: dict[str, Any]) -> None:
    msgspec.convert(render_channeldata({"pkg": entry}, entry["subdirs"]), Channeldata)


def test_conda_index_noarch_and_osx_example() -> None:
    """The shape of conda-index's test_index_noarch_osx64_1, rebuilt by hand."""
    common = {
        "description": "Description field.\nOn two lines.  ",
        "dev_url": "https://example.org/dev",
        "doc_url": "https://example.org/doc",
        "home": "https://example.org",
        "source": {"git_url": "https://example.org/src.git"},
    }
    osx = artifact(
        "osx-64",
        "1.0",
        "py27h5e241af_0",
        timestamp=1508520039632,
        about={**common, "summary": "Summary field"},
        flags={**NO_FLAGS, "post_link": True, "text_prefix": True},
    )
    noarch = artifact(
        "noarch",
        "1.0",
        "pyhed9eced_1",
        build_number=1,
        timestamp=1508520204768,
        about={**common, "summary": "Summary field. This is the python noarch version."},
    )
    entry = channeldata_entry("pkg", [osx, noarch])
    assert entry == {
        "description": "Description field. On two lines.",
        "dev_url": "https://example.org/dev",
        "doc_url": "https://example.org/doc",
        "home": "https://example.org",
        "license": "BSD",
        "source_git_url": "https://example.org/src.git",
        "summary": "Summary field. This is the python noarch version.",
        "version": "1.0",
        "activate.d": False,
        "binary_prefix": False,
        "deactivate.d": False,
        "post_link": True,
        "pre_link": False,
        "pre_unlink": False,
        "text_prefix": True,
        "run_exports": {},
        "subdirs": ["noarch", "osx-64"],
        "timestamp": 1508520204,
    }
    validate(entry)


def test_newest_version_beats_newer_timestamp() -> None:
    old_but_recent = artifact(
        "linux-64", "1.9", timestamp=2_000_000_000_000, about={"summary": "1.9"}
    )
    newest = artifact("linux-64", "2.0", timestamp=1_000_000_000_000, about={"summary": "2.0"})
    entry = channeldata_entry("pkg", [old_but_recent, newest])
    assert entry["version"] == "2.0"
    assert entry["summary"] == "2.0"
    assert entry["timestamp"] == 2_000_000_000


def test_missing_fields_fall_back_to_older_artifacts() -> None:
    older = artifact("linux-64", "1.0", about={"home": "https://old", "summary": "old"})
    newer = artifact("linux-64", "2.0", about={"summary": "new", "home": ""})
    entry = channeldata_entry("pkg", [older, newer])
    assert entry["summary"] == "new"
    assert entry["home"] == "https://old"
    assert "doc_url" not in entry  # nulls are left out


def test_record_fields_override_about() -> None:
    entry = channeldata_entry("pkg", [artifact("noarch", "1.0", about={"license": "GPL"})])
    assert entry["license"] == "BSD"


def test_flags_are_true_when_any_artifact_has_them() -> None:
    entry = channeldata_entry(
        "pkg",
        [
            artifact("linux-64", "1.0", flags={**NO_FLAGS, "activate.d": True}),
            artifact("win-64", "2.0", flags={"binary_prefix": True}),
            artifact("osx-64", "2.0", flags=None),
        ],
    )
    assert entry["activate.d"] is True
    assert entry["binary_prefix"] is True
    assert entry["pre_unlink"] is False
    validate(entry)


def test_run_exports_per_version() -> None:
    weak_1 = {"weak": ["pkg >=1.0,<2"]}
    weak_2 = {"weak": ["pkg >=2.0,<3"]}
    fresh = {"weak": ["fresh"], "strong": ["x"]}
    entry = channeldata_entry(
        "pkg",
        [
            artifact("linux-64", "1.0", run_exports=weak_1),
            # Within a subdir and version, the newest artifact speaks for the version.
            artifact("linux-64", "2.5", "0", timestamp=1, run_exports={"weak": ["stale"]}),
            artifact("linux-64", "2.5", "1", timestamp=2, run_exports=fresh),
            # Across subdirs, the last subdir in sorted order wins.
            artifact("linux-64", "2.0", run_exports={"weak": ["linux"]}),
            artifact("win-64", "2.0", run_exports=weak_2),
            artifact("osx-64", "3.0", run_exports={}),
        ],
    )
    assert entry["run_exports"] == {"1.0": weak_1, "2.0": weak_2, "2.5": fresh}
    validate(entry)


def test_conda_twin_speaks_for_the_tar_bz2() -> None:
    tar = artifact("linux-64", "1.0", ext=".tar.bz2", timestamp=9, about={"summary": "tar"})
    conda = artifact("linux-64", "1.0", ext=".conda", timestamp=5, about={"summary": "conda"})
    entry = channeldata_entry("pkg", [tar, conda])
    assert entry["summary"] == "conda"
    assert entry["timestamp"] == 5
    # In another subdir the .tar.bz2 has no twin and counts.
    entry = channeldata_entry("pkg", [conda, artifact("osx-64", "1.0", timestamp=7)])
    assert entry["subdirs"] == ["linux-64", "osx-64"]
    assert entry["timestamp"] == 7


def test_icon_and_text_cleanup() -> None:
    sha = "ab" * 32
    entry = channeldata_entry(
        "pkg",
        [
            artifact(
                "noarch",
                "1.0",
                icon_sha256=sha,
                about={
                    "summary": ["  first line\nsecond ", "ignored"],
                    "keywords": ["a", "b"],
                    "tags": "tag",
                    "identifiers": ["doi:1"],
                    "recipe_origin": "https://github.com/x/y",
                    "source": {"url": "https://example.org/pkg.tar.gz"},
                },
            )
        ],
    )
    assert entry["icon_url"] == icon_path(sha) == f"icons/{sha}.png"
    assert entry["icon_hash"] == f"sha256:{sha}"
    assert entry["summary"] == "first line second"
    assert entry["keywords"] == ["a", "b"]
    assert entry["source_url"] == "https://example.org/pkg.tar.gz"
    validate(entry)


def test_timestamps_in_seconds_and_missing() -> None:
    assert timestamp_seconds(1_508_520_039_632) == 1_508_520_039
    assert timestamp_seconds(1_508_520_039) == 1_508_520_039
    assert timestamp_seconds(None) == 0
    entry = channeldata_entry("pkg", [artifact("noarch", "0.11.1", timestamp=None)])
    assert entry["timestamp"] == 0


def test_unparseable_versions_sort_lowest() -> None:
    entry = channeldata_entry(
        "pkg", [artifact("noarch", "1..0", about={"summary": "bad"}), artifact("noarch", "0.1")]
    )
    assert entry["version"] == "0.1"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no artifacts"):
        channeldata_entry("pkg", [])
    with pytest.raises(ValueError, match="not an artifact of package 'pkg'"):
        channeldata_entry("pkg", [artifact("noarch", "1.0", name="other")])


def test_render_channeldata_sorts_and_validates() -> None:
    entries = {
        "zeta": channeldata_entry("zeta", [artifact("noarch", "1.0", name="zeta")]),
        "alpha": channeldata_entry("alpha", [artifact("linux-64", "2.0", name="alpha")]),
    }
    document = render_channeldata(entries, ["noarch", "linux-64", "noarch"])
    assert document["channeldata_version"] == 1
    assert list(document["packages"]) == ["alpha", "zeta"]
    assert document["subdirs"] == ["linux-64", "noarch"]
    parsed = msgspec.convert(document, Channeldata)
    assert parsed.packages["alpha"].version == "2.0"
    assert parsed.packages["zeta"].activate_d is False
