"""Requirement names of conda-forge feedstock recipes (fixtures/feedstocks), for comparison."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

FEEDSTOCKS = Path(__file__).parent / "fixtures" / "feedstocks"
_QUOTED = re.compile(r"""["']([A-Za-z0-9_.\-]+)["']""")
_IGNORED = {"python", "pip"}


def _names(entries: Any) -> set[str]:
    """Package names in a requirement list, selectors flattened, pins and virtuals left out."""
    names: set[str] = set()
    for entry in entries or []:
        if isinstance(entry, dict):
            names |= _names(entry.get("then")) | _names(entry.get("else"))
            continue
        text = str(entry).strip()
        if text.startswith(("${{", "{{")):
            # `${{ "colorama" if noarch_platform == "win" else "python" }}`: the quoted names.
            if " if " in text and "pin_" not in text:
                names |= {n for n in _QUOTED.findall(text) if n not in {"win", "unix"}}
            continue
        name = text.split()[0]
        if not name.startswith("__"):
            names.add(name)
    return names - _IGNORED


def _load(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if path.name == "meta.yaml":
        text = re.sub(r"\{%.*?%\}", "", text)
        text = re.sub(
            r"\{\{.*?\}\}", lambda m: "JINJA" if "pin_" not in m.group(0) else "${{ pin }}", text
        )
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def feedstock_requirements(name: str) -> dict[str, set[str]]:
    """host and run names of the output named `name` (or of the single-output recipe)."""
    directory = FEEDSTOCKS / name
    path = next(p for p in (directory / "recipe.yaml", directory / "meta.yaml") if p.exists())
    document = _load(path)
    section = document.get("requirements", {})
    for output in document.get("outputs", []):
        output_name = output.get("name") or output.get("package", {}).get("name")
        if output_name in (name, "${{ name }}"):
            section = output.get("requirements", {})
    return {key: _names(section.get(key)) for key in ("host", "run")}


def license_of(name: str) -> str:
    directory = FEEDSTOCKS / name
    path = next(p for p in (directory / "recipe.yaml", directory / "meta.yaml") if p.exists())
    return str(_load(path)["about"]["license"])


def noarch_of(name: str) -> str | None:
    directory = FEEDSTOCKS / name
    path = next(p for p in (directory / "recipe.yaml", directory / "meta.yaml") if p.exists())
    document = _load(path)
    noarch = document.get("build", {}).get("noarch")
    return str(noarch) if noarch else None
