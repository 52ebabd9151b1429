"""Monolithic files assembled from cached bytes equal a full encode of the same document."""

from __future__ import annotations

import io
import json
from typing import Any

from stockyard.catalog import PublishRow
from stockyard.publish.monolithic import write_monolithic
from stockyard.types.encoding import encode_json


def _row(filename: str, record: dict[str, Any], **kw: Any) -> PublishRow:
    return PublishRow(
        filename=filename,
        name=record["name"],
        record=encode_json(record),
        patched=encode_json(kw["patched"]) if "patched" in kw else None,
        patch_removed=kw.get("removed", False),
        run_exports=encode_json(kw["rex"]) if "rex" in kw else None,
        size=0,
        sha256="",
        indexed_timestamp=0,
    )


def test_bytes_equal_full_encoding(r_repodata: dict[str, Any]) -> None:
    packages = dict(sorted(r_repodata["packages"].items())[:300])
    conda = {f.replace(".tar.bz2", ".conda"): r for f, r in list(packages.items())[:50]}
    rows_bz2 = [_row(f, r) for f, r in packages.items()]
    rows_conda = [_row(f, r, rex={"weak": ["x"]}) for f, r in sorted(conda.items())]
    raw, pat, rex = io.BytesIO(), io.BytesIO(), io.BytesIO()
    write_monolithic(
        [("packages", [rows_bz2]), ("packages.conda", [rows_conda])],
        info={"subdir": "linux-64"},
        repodata_version=1,
        removed_from_packages=["gone-1-0.tar.bz2"],
        from_packages=raw,
        patched=pat,
        run_exports=rex,
    )
    expected = {
        "info": {"subdir": "linux-64"},
        "packages": packages,
        "packages.conda": conda,
        "removed": ["gone-1-0.tar.bz2"],
        "repodata_version": 1,
    }
    assert raw.getvalue() == encode_json(expected)
    assert pat.getvalue() == encode_json(expected)
    exports = json.loads(rex.getvalue())
    assert exports["packages.conda"][next(iter(conda))] == {"run_exports": {"weak": ["x"]}}
    assert exports["packages"][next(iter(packages))] == {"run_exports": {}}


def test_patched_and_removed_rows() -> None:
    rec = {"name": "a", "version": "1", "build": "0", "build_number": 0, "depends": []}
    rows = [
        _row("a-1-0.conda", rec, patched={**rec, "depends": ["b"]}),
        _row("a-2-0.conda", {**rec, "version": "2"}, removed=True),
    ]
    raw, pat, rex = io.BytesIO(), io.BytesIO(), io.BytesIO()
    patch_removed = write_monolithic(
        [("packages", []), ("packages.conda", [rows])],
        info={"subdir": "noarch", "base_url": "https://x/noarch/"},
        repodata_version=2,
        removed_from_packages=[],
        from_packages=raw,
        patched=pat,
        run_exports=rex,
    )
    assert patch_removed == ["a-2-0.conda"]
    published = json.loads(pat.getvalue())
    assert list(published["packages.conda"]) == ["a-1-0.conda"]
    assert published["packages.conda"]["a-1-0.conda"]["depends"] == ["b"]
    assert published["removed"] == ["a-2-0.conda"]
    assert published["repodata_version"] == 2
    assert len(json.loads(raw.getvalue())["packages.conda"]) == 2
