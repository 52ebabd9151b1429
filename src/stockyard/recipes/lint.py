"""`stockyard recipe lint`: what a reviewer checks in a v1 recipe, one finding per problem.

Checks: the license is one valid SPDX expression (`stockyard.types.licenses`) and a license
file is named; a `noarch: python` output has no compilers and no selectors on Python-version
(it is built once), a compiled one is not noarch; python is pinned with `python_min` in a noarch
recipe (conda-forge's CFEP-25); exact `==` pins in run; every output has tests; an extras output
pins its main output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockyard.recipes import recipe_file
from stockyard.types.licenses import normalize_license


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" | "warning"
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity, "where": self.where, "message": self.message}


def _about(document: Any, findings: list[Finding]) -> None:
    about = document.get("about") or {}
    license_text = about.get("license")
    if not license_text:
        findings.append(Finding("error", "about.license", "no license"))
    elif normalize_license(str(license_text)) != str(license_text).strip():
        spdx = normalize_license(str(license_text))
        hint = f" (SPDX: {spdx})" if spdx else ""
        findings.append(
            Finding("error", "about.license", f"'{license_text}' is not an SPDX expression{hint}")
        )
    elif "LicenseRef-Unknown" in str(license_text):
        findings.append(Finding("error", "about.license", "the license is unknown"))
    if not about.get("license_file"):
        findings.append(Finding("error", "about.license_file", "no license file is shipped"))
    if not about.get("summary"):
        findings.append(Finding("warning", "about.summary", "no summary"))


def _flat(entries: Any) -> list[tuple[str, str | None]]:
    """(spec, selector) for each line, `if/then` flattened."""
    lines: list[tuple[str, str | None]] = []
    for entry in entries or []:
        if isinstance(entry, dict):
            then = entry.get("then")
            for spec in then if isinstance(then, list) else [then]:
                if spec is not None:
                    lines.append((str(spec), str(entry.get("if"))))
        else:
            lines.append((str(entry), None))
    return lines


def _output(document: Any, output: Any, findings: list[Finding]) -> None:
    name = recipe_file.output_name(document, output) or "recipe"
    build = {**(document.get("build") or {}), **(output.get("build") or {})}
    requirements = output.get("requirements") or {}
    noarch = build.get("noarch")
    build_lines = _flat(requirements.get("build"))
    compilers = [spec for spec, _ in build_lines if "compiler(" in spec]
    if noarch and compilers:
        findings.append(Finding("error", name, f"noarch: {noarch} but needs {compilers[0]}"))
    run = _flat(requirements.get("run"))
    if noarch == "python":
        _noarch_python(name, requirements, run, findings)
    for spec, _ in run:
        if " ==" in spec and not spec.startswith("${{"):
            findings.append(Finding("warning", f"{name}.run", f"exact pin '{spec}'"))
    if not output.get("tests") and not document.get("tests"):
        findings.append(Finding("error", name, "no tests"))


def _noarch_python(name: str, requirements: Any, run: list[Any], findings: list[Finding]) -> None:
    host = [spec for spec, _ in _flat(requirements.get("host"))]
    if not any(spec.startswith("python") and "python_min" in spec for spec in host):
        findings.append(
            Finding(
                "warning", f"{name}.host", "noarch: python should pin 'python ${{ python_min }}.*'"
            )
        )
    if not any(spec.startswith("python") and "python_min" in spec for spec, _ in run):
        findings.append(
            Finding(
                "warning",
                f"{name}.run",
                "noarch: python should require 'python >=${{ python_min }}'",
            )
        )
    for spec, selector in run:
        if selector and "python" in selector:
            findings.append(
                Finding(
                    "error", f"{name}.run", f"'{spec}' has a Python selector in a noarch recipe"
                )
            )


def lint_document(document: Any) -> list[Finding]:
    findings: list[Finding] = []
    _about(document, findings)
    for output in recipe_file.outputs(document):
        _output(document, output, findings)
    return findings


def lint_recipe_file(path: Path) -> list[Finding]:
    return lint_document(recipe_file.load(path))
