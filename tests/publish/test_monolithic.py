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
    result = write_monolithic(
        [("packages", []), ("packages.conda", [rows])],
        info={"subdir": "noarch", "base_url": "https://x/noarch/"},
        repodata_version=2,
        removed_from_packages=[],
        from_packages=raw,
        patched=pat,
        run_exports=rex,
    )
    assert result.patch_removed == ["a-2-0.conda"]
    published = json.loads(pat.getvalue())
    assert list(published["packages.conda"]) == ["a-1-0.conda"]
    assert published["packages.conda"]["a-1-0.conda"]["depends"] == ["b"]
    assert published["removed"] == ["a-2-0.conda"]
    assert published["repodata_version"] == 2
    assert len(json.loads(raw.getvalue())["packages.conda"]) == 2


def _finish(buffer: io.BytesIO, head: bytes, new_head: bytes | None) -> bytes:
    data = buffer.getvalue()
    return data if new_head is None else new_head + data[len(head) :]


def test_v3_records_bytes_equal_full_encoding() -> None:
    """Records with CEP 43/44/45 syntax go under `v3` (CEP 48) in each document by its own
    record (the patched one for repodata.json), announced in `info.repodata_revisions`; the
    bytes still equal `encode_json` of the whole document once the head is replaced."""
    rec = {"name": "a", "version": "1", "build": "0", "build_number": 0, "depends": []}
    cond = {**rec, "name": "c", "depends": ['x[when="__unix"]'], "indexed_timestamp": 7}
    extra = {**rec, "name": "extra", "depends": ["extra-cmake-modules"]}  # byte test only
    moved = {**rec, "name": "m", "indexed_timestamp": 9}
    rows = [
        _row("a-1-0.conda", rec),
        _row("c-1-0.conda", cond, rex={"weak": ["c"]}),
        _row("extra-1-0.conda", extra),
        _row("m-1-0.conda", moved, patched={**moved, "flags": ["cuda"]}),
    ]
    raw, pat, rex = io.BytesIO(), io.BytesIO(), io.BytesIO()
    result = write_monolithic(
        [("packages", [[_row("c-1-0.tar.bz2", cond)]]), ("packages.conda", [rows[:2], rows[2:]])],
        info={"subdir": "noarch"},
        repodata_version=1,
        removed_from_packages=[],
        from_packages=raw,
        patched=pat,
        run_exports=rex,
    )
    v3_cond = {**cond, "depends": ['x[when="__unix"]']}
    expected_raw = {
        "info": {
            "subdir": "noarch",
            "repodata_revisions": {"v3": {"n_packages": 2, "oldest": 7, "newest": 7}},
        },
        "packages": {},
        "packages.conda": {"a-1-0.conda": rec, "extra-1-0.conda": extra, "m-1-0.conda": moved},
        "removed": [],
        "repodata_version": 1,
        "v3": {"conda": {"c-1-0": v3_cond}, "tar.bz2": {"c-1-0": v3_cond}},
    }
    assert _finish(raw, result.head, result.from_packages_head) == encode_json(expected_raw)
    expected_pat = {
        **expected_raw,
        "info": {
            "subdir": "noarch",
            "repodata_revisions": {"v3": {"n_packages": 3, "oldest": 7, "newest": 9}},
        },
        "packages.conda": {"a-1-0.conda": rec, "extra-1-0.conda": extra},
        "v3": {
            "conda": {"c-1-0": v3_cond, "m-1-0": {**moved, "flags": ["cuda"]}},
            "tar.bz2": {"c-1-0": v3_cond},
        },
    }
    assert _finish(pat, result.head, result.patched_head) == encode_json(expected_pat)
    # run_exports.json lists every artifact, v3 or not (CEP 12: all packages).
    exports = json.loads(rex.getvalue())
    assert sorted(exports["packages.conda"]) == [r.filename for r in rows]
    assert exports["packages.conda"]["c-1-0.conda"] == {"run_exports": {"weak": ["c"]}}


def test_patched_run_exports_in_run_exports_json() -> None:
    """A patch's `run_exports` is what run_exports.json publishes (CEP 21 §Patching); a patch
    that deletes them publishes `{}`; other patches leave the artifact's."""
    rec = {"name": "a", "version": "1", "build": "0", "build_number": 0, "depends": []}
    with_rex = {**rec, "run_exports": {"weak": ["a"]}}
    rows = [
        _row(
            "a-1-0.conda",
            with_rex,
            patched={**rec, "run_exports": {"weak": ["b"]}},
            rex={"weak": ["a"]},
        ),
        _row("a-2-0.conda", with_rex, patched=rec, rex={"weak": ["a"]}),
        _row("a-3-0.conda", with_rex, patched={**with_rex, "license": "x"}, rex={"weak": ["a"]}),
        _row("a-4-0.conda", rec, patched={**rec, "run_exports": ["c"]}),
    ]
    raw, pat, rex = io.BytesIO(), io.BytesIO(), io.BytesIO()
    write_monolithic(
        [("packages", []), ("packages.conda", [rows])],
        info={"subdir": "noarch"},
        repodata_version=1,
        removed_from_packages=[],
        from_packages=raw,
        patched=pat,
        run_exports=rex,
    )
    exports = json.loads(rex.getvalue())["packages.conda"]
    assert exports == {
        "a-1-0.conda": {"run_exports": {"weak": ["b"]}},
        "a-2-0.conda": {"run_exports": {}},
        "a-3-0.conda": {"run_exports": {"weak": ["a"]}},
        "a-4-0.conda": {"run_exports": {"weak": ["c"]}},
    }
