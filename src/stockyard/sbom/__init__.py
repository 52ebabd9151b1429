"""CycloneDX 1.6 SBOMs of conda artifacts and environments (`cyclonedx-python-lib`).

Each conda package is a component with its conda purl (purl-spec `conda` type); the Python
distributions (and other purls) identified inside it by `stockyard.scan` are its nested
components. See docs/scan.md.
"""
