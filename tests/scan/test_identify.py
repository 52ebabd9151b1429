from __future__ import annotations

from pathlib import Path

import pytest

from stockyard.scan.identify import ScanLimits, identify_artifact
from stockyard.scan.pymeta import name_version_from_folder, parse_name_version
from stockyard.types.errors import InvalidArtifact
from tests.scan.builders import python_artifact


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_identifies_embedded_distributions_purls_urls_and_licenses(
    tmp_path: Path, fmt: str
) -> None:
    path = python_artifact(
        tmp_path,
        "requests",
        "2.30.0",
        fmt=fmt,
        dists=[("requests", "2.30.0"), ("urllib3", "1.26.4"), ("Jinja2", "3.1.2")],
        egg_infos=[("six", "1.16.0")],
        purls=["pkg:pypi/requests@2.30.0", "pkg:pypi/Zope.Interface", "pkg:github/psf/requests"],
        about={
            "home": "https://requests.readthedocs.io",
            "extra": {"source_url": ["https://x/y.tgz"]},
        },
        licenses={"LICENSE": b"Apache", "vendor/NOTICE": b"n"},
    )
    ident = identify_artifact(path)
    purls = {c.purl: c for c in ident.components}
    assert set(purls) == {
        "pkg:pypi/requests@2.30.0",
        "pkg:pypi/urllib3@1.26.4",
        "pkg:pypi/jinja2@3.1.2",
        "pkg:pypi/six@1.16.0",
        # a record purl without a version takes the conda package's
        "pkg:pypi/zope.interface@2.30.0",
        "pkg:github/psf/requests@2.30.0",
    }
    assert purls["pkg:pypi/jinja2@3.1.2"].name == "jinja2"  # PEP 503
    assert purls["pkg:pypi/jinja2@3.1.2"].source == "dist-info"
    assert purls["pkg:pypi/six@1.16.0"].source == "egg-info"
    assert purls["pkg:github/psf/requests@2.30.0"].ecosystem == ""
    assert ident.record_purls[0] == "pkg:pypi/requests@2.30.0"
    assert [(u.kind, u.url) for u in ident.source_urls] == [
        ("home", "https://requests.readthedocs.io"),
        ("source_url", "https://x/y.tgz"),
    ]
    assert ident.license_files == ["LICENSE", "vendor/NOTICE"]
    assert (ident.name, ident.version, ident.build, ident.subdir) == (
        "requests",
        "2.30.0",
        "py_0",
        "noarch",
    )
    assert ident.warnings == []


def test_hundreds_of_dist_info_folders_are_capped_and_reported(tmp_path: Path) -> None:
    dists = [(f"dist{i}", "1.0") for i in range(700)]
    path = python_artifact(tmp_path, "bundle", dists=dists)
    ident = identify_artifact(path)
    assert ident.python_metadata_seen == 700
    assert len(ident.components) == 500
    assert any("only the first 500" in w for w in ident.warnings)
    small = identify_artifact(path, limits=ScanLimits(max_python_metadata=10))
    assert len(small.components) == 10


def test_invalid_record_purls_are_warnings(tmp_path: Path) -> None:
    path = python_artifact(tmp_path, "p", dists=[], purls=["not a purl", 7])
    ident = identify_artifact(path)
    assert ident.components == []
    assert len(ident.warnings) == 2


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_truncated_artifact_is_a_clear_error(tmp_path: Path, fmt: str) -> None:
    path = python_artifact(tmp_path, "p", dists=[("p", "1.0")] * 1, fmt=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidArtifact) as info:
        identify_artifact(path)
    assert path.name in info.value.message


def test_not_an_artifact_name(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"")
    with pytest.raises(InvalidArtifact):
        identify_artifact(path)


def test_core_metadata_headers() -> None:
    text = b"Metadata-Version: 2.1\nName: Foo.Bar\nSummary: a\n  continued\nVersion: 1.0\n\nName: x"
    assert parse_name_version(text) == ("Foo.Bar", "1.0")
    assert parse_name_version(b"Name: a\n\nVersion: 1") is None
    assert name_version_from_folder("a/b/foo_bar-1.2.dist-info") == ("foo_bar", "1.2")
    assert name_version_from_folder("six-1.16.0-py3.11.egg-info") == ("six", "1.16.0")
    assert name_version_from_folder("nodash.dist-info") is None
