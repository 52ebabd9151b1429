"""Package URLs: pypi purls for embedded distributions, the record's `purls`, conda purls.

The conda purl follows the purl-spec's `conda` type: no namespace; `build`, `channel`,
`subdir` and `type` (`conda` or `tar.bz2`) are qualifiers, as in
`pkg:conda/absl-py@0.4.1?build=py36h06a4308_0&channel=main&subdir=linux-64&type=tar.bz2`.
"""

from __future__ import annotations

from typing import Final

from packageurl import PackageURL

from stockyard.scan.model import Component
from stockyard.scan.pymeta import pypi_name

#: purl type -> OSV ecosystem, for the types OSV has an ecosystem for.
OSV_ECOSYSTEMS: Final = {
    "pypi": "PyPI",
    "npm": "npm",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "golang": "Go",
    "maven": "Maven",
    "nuget": "NuGet",
    "cran": "CRAN",
    "composer": "Packagist",
    "hex": "Hex",
    "pub": "Pub",
    "hackage": "Hackage",
}


def pypi_purl(name: str, version: str) -> str:
    """The purl-spec's pypi form: lower case, `_` as `-` (packageurl normalizes it)."""
    return str(PackageURL(type="pypi", name=name, version=version).to_string())


def conda_purl(
    name: str,
    version: str,
    *,
    build: str,
    subdir: str,
    channel: str | None = None,
    filename: str | None = None,
) -> str:
    qualifiers = {"build": build, "subdir": subdir}
    if channel:
        qualifiers["channel"] = channel
    if filename and filename.endswith(".conda"):
        qualifiers["type"] = "conda"
    elif filename and filename.endswith(".tar.bz2"):
        qualifiers["type"] = "tar.bz2"
    purl = PackageURL(type="conda", name=name, version=version, qualifiers=qualifiers)
    return str(purl.to_string())


def component_from_purl(text: str, fallback_version: str) -> Component:
    """A component for one entry of a record's `purls`; raises ValueError when unparseable.

    A purl without a version takes the conda package's (a repackaged distribution carries its
    upstream version).
    """
    purl = PackageURL.from_string(text)
    version = purl.version or fallback_version
    ecosystem = OSV_ECOSYSTEMS.get(purl.type, "")
    if purl.type == "pypi":
        name = pypi_name(purl.name)
    elif purl.type == "maven" and purl.namespace:
        name = f"{purl.namespace}:{purl.name}"
    elif purl.namespace and purl.type in ("golang", "npm", "composer"):
        name = f"{purl.namespace}/{purl.name}"
    else:
        name = purl.name
    canonical = PackageURL(
        type=purl.type, namespace=purl.namespace, name=purl.name, version=version
    ).to_string()
    return Component(
        purl=str(canonical), ecosystem=ecosystem, name=name, version=version, source="record-purls"
    )
