from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from stockyard.sbom.cyclonedx_bom import build_bom, render_json
from stockyard.sbom.packages import CondaPackage, package_from_artifact
from stockyard.scan.purls import conda_purl
from tests.scan.builders import python_artifact


def validate(document: str) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document)
    assert error is None, error


def test_conda_purl_follows_the_purl_spec() -> None:
    assert (
        conda_purl(
            "absl-py",
            "0.4.1",
            build="py36h06a4308_0",
            subdir="linux-64",
            channel="main",
            filename="absl-py-0.4.1-py36h06a4308_0.tar.bz2",
        )
        == "pkg:conda/absl-py@0.4.1?build=py36h06a4308_0&channel=main&subdir=linux-64&type=tar.bz2"
    )
    url = conda_purl("x", "1", build="0", subdir="noarch", channel="http://127.0.0.1:8000/main")
    assert url == "pkg:conda/x@1?build=0&channel=http://127.0.0.1:8000/main&subdir=noarch"


def test_artifact_sbom_is_valid_cyclonedx_16_with_nested_pypi_components(tmp_path: Path) -> None:
    app = python_artifact(
        tmp_path,
        "requests",
        "2.30.0",
        depends=["urllib3 >=1.21", "python >=3.8"],
        dists=[("requests", "2.30.0"), ("charset_normalizer", "3.1.0")],
        about={
            "home": "https://requests.readthedocs.io",
            "dev_url": "https://github.com/psf/requests",
        },
    )
    lib = python_artifact(tmp_path, "urllib3", "1.26.4", fmt="tar.bz2")
    packages = [package_from_artifact(app, channel="main"), package_from_artifact(lib)]
    document = render_json(build_bom(packages, name="demo", platform="linux-64"))
    validate(document)
    bom = json.loads(document)
    assert bom["specVersion"] == "1.6"
    by_name = {c["name"]: c for c in bom["components"]}
    requests = by_name["requests"]
    assert requests["purl"] == (
        "pkg:conda/requests@2.30.0?build=py_0&channel=main&subdir=noarch&type=conda"
    )
    assert {c["purl"] for c in requests["components"]} == {
        "pkg:pypi/requests@2.30.0",
        "pkg:pypi/charset-normalizer@3.1.0",
    }
    assert {r["type"] for r in requests["externalReferences"]} == {"website", "vcs"}
    assert {h["alg"] for h in requests["hashes"]} == {"SHA-256", "MD5"}
    edges = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert edges[requests["bom-ref"]] == [by_name["urllib3"]["bom-ref"]]  # python not in the set


def test_same_name_twice_and_unknown_contents(tmp_path: Path) -> None:
    packages = [
        CondaPackage("a", "1.0", "0", "noarch", "a-1.0-0.conda", license="Not SPDX at all"),
        CondaPackage("a", "2.0", "0", "noarch", "a-2.0-0.conda", depends=["a"]),
    ]
    document = render_json(build_bom(packages, name="two"))
    validate(document)
    assert len(json.loads(document)["components"]) == 2


@pytest.mark.parametrize("bad", ["not-an-artifact.txt"])
def test_unreadable_artifact(tmp_path: Path, bad: str) -> None:
    from stockyard.types.errors import InvalidArtifact

    path = tmp_path / bad
    path.write_bytes(b"")
    with pytest.raises(InvalidArtifact):
        package_from_artifact(path)
