"""Build and serialize the CycloneDX 1.6 document."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from stockyard import __version__
from stockyard.sbom.packages import CondaPackage
from stockyard.scan.purls import conda_purl

_REFERENCE_TYPES: Final = {
    "home": ExternalReferenceType.WEBSITE,
    "homepage": ExternalReferenceType.WEBSITE,
    "dev_url": ExternalReferenceType.VCS,
    "repository": ExternalReferenceType.VCS,
    "doc_url": ExternalReferenceType.DOCUMENTATION,
    "documentation": ExternalReferenceType.DOCUMENTATION,
    "source_url": ExternalReferenceType.SOURCE_DISTRIBUTION,
    "license_url": ExternalReferenceType.LICENSE,
}
_licenses = LicenseFactory()
_DEPENDENCY_NAME: Final = re.compile(r"[^\s=<>!~,\[]+")


def package_purl(package: CondaPackage) -> str:
    return conda_purl(
        package.name,
        package.version,
        build=package.build,
        subdir=package.subdir,
        channel=package.channel,
        filename=package.filename,
    )


def _hashes(package: CondaPackage) -> list[HashType]:
    out = []
    if package.sha256:
        out.append(HashType(alg=HashAlgorithm.SHA_256, content=package.sha256.lower()))
    if package.md5:
        out.append(HashType(alg=HashAlgorithm.MD5, content=package.md5.lower()))
    return out


def _references(package: CondaPackage) -> list[ExternalReference]:
    out = []
    if package.url and not package.url.startswith("file:"):
        out.append(
            ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(package.url))
        )
    for source in package.identification.source_urls if package.identification else []:
        kind = _REFERENCE_TYPES.get(source.kind, ExternalReferenceType.OTHER)
        try:
            out.append(ExternalReference(type=kind, url=XsUri(source.url)))
        except ValueError:
            continue  # not a URI CycloneDX accepts
    return out


def _nested(package: CondaPackage, parent_ref: str) -> list[Component]:
    """The components identified inside the artifact (Python distributions, record purls)."""
    out = []
    for found in package.identification.components if package.identification else []:
        purl = PackageURL.from_string(found.purl)
        properties = [Property(name="stockyard:identified-by", value=found.source)]
        if found.path:
            properties.append(Property(name="stockyard:path", value=found.path))
        out.append(
            Component(
                type=ComponentType.LIBRARY,
                name=purl.name,
                version=found.version,
                purl=purl,
                bom_ref=f"{parent_ref}#{found.purl}",
                properties=properties,
            )
        )
    return out


def package_component(package: CondaPackage) -> Component:
    purl = package_purl(package)
    properties = [
        Property(name="conda:package:build", value=package.build),
        Property(name="conda:package:build-number", value=str(package.build_number)),
        Property(name="conda:package:subdir", value=package.subdir),
        Property(name="conda:package:filename", value=package.filename),
    ]
    if package.channel:
        properties.append(Property(name="conda:package:channel", value=package.channel))
    license_value = package.license or (
        package.identification.license if package.identification else None
    )
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=package.version,
        purl=PackageURL.from_string(purl),
        bom_ref=purl,
        hashes=_hashes(package),
        licenses=[_licenses.make_from_string(license_value)] if license_value else [],
        external_references=_references(package),
        properties=properties,
        components=_nested(package, purl),
    )


def build_bom(packages: Sequence[CondaPackage], *, name: str, platform: str | None = None) -> Bom:
    """One component per package, dependencies between them by name, a root application."""
    root_properties = (
        [Property(name="conda:environment:platform", value=platform)] if platform else []
    )
    root = Component(
        type=ComponentType.APPLICATION,
        name=name,
        bom_ref=f"stockyard-sbom:{name}",
        properties=root_properties,
    )
    bom = Bom()
    bom.metadata.component = root
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="stockyard", version=__version__)
    )
    ordered = sorted(packages, key=lambda p: (p.name, p.version, p.build, p.subdir))
    components = [package_component(p) for p in ordered]
    by_name = {p.name: c for p, c in zip(ordered, components, strict=True)}
    for component in components:
        bom.components.add(component)
    for package, component in zip(ordered, components, strict=True):
        names = {_dependency_name(spec) for spec in package.depends}
        bom.register_dependency(component, [by_name[n] for n in sorted(names) if n in by_name])
    bom.register_dependency(root, components)
    return bom


def _dependency_name(spec: str) -> str:
    match = _DEPENDENCY_NAME.match(spec.strip())
    return match.group(0).split("::")[-1].lower() if match else ""


def render_json(bom: Bom) -> str:
    """The CycloneDX 1.6 JSON document."""
    return str(JsonV1Dot6(bom).output_as_string(indent=2))
