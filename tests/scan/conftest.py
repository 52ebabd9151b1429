from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
OSV_FOLDER = FIXTURES / "osv-pypi"


def zip_folder(folder: Path, dest: Path, extra: dict[str, bytes] | None = None) -> Path:
    """The folder as OSV publishes an ecosystem: a zip of `<id>.json` members."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.glob("*.json")):
            archive.write(file, file.name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return dest


@pytest.fixture
def osv_zip(tmp_path: Path) -> Path:
    return zip_folder(OSV_FOLDER, tmp_path / "all.zip")
