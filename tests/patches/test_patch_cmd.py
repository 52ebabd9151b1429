"""`stockyard patch instructions` and `stockyard patch diff`, and the diff functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stockyard.cli.main import main
from stockyard.index.run import IndexOptions, index_channel
from stockyard.patches import apply_patch_instructions
from stockyard.patches.diff import ABSENT, diff_records, records_of, summarize
from stockyard.patches.yaml_rules import load_patch_yaml
from stockyard.testing.corpus import load_json_document, repodata_files
from stockyard.types.encoding import zstd_compress
from tests.index.conftest import build_artifact

DATA = Path(__file__).resolve().parents[1] / "data" / "conda-forge-patches" / "recipe"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- instructions -----------------------------------------------------------------------------


def _real_repodata(name: str) -> dict[str, Any]:
    path = next(path for path in repodata_files() if path.name.startswith(name))
    document: dict[str, Any] = load_json_document(path)
    return document


@pytest.mark.parametrize("compressed", [False, True])
def test_instructions_from_the_real_yaml_set_reproduce_the_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], compressed: bool
) -> None:
    repodata = _real_repodata("anaconda-r-linux-64")
    path = tmp_path / "repodata.json"
    path.write_text(json.dumps(repodata))
    if compressed:
        path = tmp_path / "repodata.json.zst"
        path.write_bytes(zstd_compress(json.dumps(repodata).encode()))
    out = tmp_path / "patch_instructions.json"
    code, stdout, _ = run(
        capsys,
        *("patch", "instructions", "--repodata", str(path), "--subdir", "linux-64"),
        *("--patch-generator", str(DATA / "patch_yaml"), "-o", str(out)),
    )
    assert code == 0 and "records patched" in stdout
    instructions = json.loads(out.read_text())
    assert instructions["patch_instructions_version"] == 1
    assert instructions["remove"] == [] and instructions["revoke"] == []
    changed = load_patch_yaml(DATA / "patch_yaml").changed_records(repodata, "linux-64")
    assert len(changed) > 0
    applied = apply_patch_instructions(repodata, instructions)
    for filename, record in repodata["packages"].items():
        assert applied["packages"][filename] == changed.get(filename, record)


def test_instructions_from_a_bare_record_map_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = {
        "pkg-1-0.tar.bz2": {"name": "pkg", "version": "1", "depends": ["a 1.2.3 h_0"]},
        "pkg-1-0.conda": {"name": "pkg", "version": "1", "depends": ["a 1.2.3 h_0"]},
    }
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    rules = tmp_path / "r.yaml"
    rules.write_text("if: {name: pkg}\nthen:\n  - relax_exact_depends: {name: a}\n")
    code, stdout, _ = run(
        capsys,
        *("patch", "instructions", "--repodata", str(path), "--subdir", "noarch"),
        *("--patch-generator", str(rules)),
    )
    assert code == 0
    assert json.loads(stdout)["packages"] == {"pkg-1-0.tar.bz2": {"depends": ["a >=1.2.3"]}}
    # the .conda twin gets the `packages` entry from conda-index; nothing more is needed
    assert json.loads(stdout)["packages.conda"] == {}


def test_instructions_pass_other_sources_through_completed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "repodata.json"
    path.write_text(json.dumps({"packages": {}, "info": {"subdir": "noarch"}}))
    source = tmp_path / "patch_instructions.json"
    source.write_text(json.dumps({"remove": ["x-1-0.conda"]}))
    code, stdout, _ = run(
        capsys,
        *("patch", "instructions", "--repodata", str(path), "--subdir", "noarch"),
        *("--patch-generator", str(source)),
    )
    assert code == 0
    assert json.loads(stdout) == {
        "patch_instructions_version": 1,
        "packages": {},
        "packages.conda": {},
        "remove": ["x-1-0.conda"],
        "revoke": [],
    }


def test_instructions_with_an_invalid_yaml_fail_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "repodata.json"
    path.write_text(json.dumps({"packages": {}}))
    rules = tmp_path / "r.yaml"
    rules.write_text("if: {name: pkg}\nthen:\n  - tighten_depends: {name: a}\n")
    code, _, stderr = run(
        capsys,
        *("patch", "instructions", "--repodata", str(path), "--subdir", "noarch"),
        *("--patch-generator", str(rules)),
    )
    assert code == 1
    assert "document 0: then[0].tighten_depends" in stderr
    assert "needs max_pin or upper_bound" in stderr


# --- diff -------------------------------------------------------------------------------------

OLD_RULES = "if: {name: pkg}\nthen:\n  - tighten_depends: {name: numpy, max_pin: x.x}\n"
NEW_RULES = (
    "if: {name: pkg}\nthen:\n  - tighten_depends: {name: numpy, max_pin: x}\n"
    "---\nif: {name: other}\nthen:\n  - add_constrains: numpy <3\n"
)


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    channel = tmp_path / "chan"
    (channel / "noarch").mkdir(parents=True)
    build_artifact(channel, "linux-64", "pkg", depends=["numpy >=1.2,<2.0a0"], fmt="tar.bz2")
    build_artifact(channel, "linux-64", "pkg", depends=["numpy >=1.2,<2.0a0"], fmt="conda")
    build_artifact(channel, "noarch", "other", depends=["numpy"])
    rules = tmp_path / "old.yaml"
    rules.write_text(OLD_RULES)
    index_channel(channel, IndexOptions(patch_source=str(rules)))
    return channel


def _files(channel: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(channel.rglob("*"))
        if path.is_file()
    }


def test_diff_with_the_published_set_shows_nothing(
    channel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, _ = run(
        capsys, "patch", "diff", str(channel), "--patch-generator", str(tmp_path / "old.yaml")
    )
    assert code == 0 and "no record changes" in stdout


def test_diff_shows_each_record_and_key_and_writes_nothing(
    channel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new.yaml"
    new.write_text(NEW_RULES)
    before = _files(channel)
    code, stdout, _ = run(capsys, "patch", "diff", str(channel), "--patch-generator", str(new))
    assert code == 0
    assert _files(channel) == before
    assert "linux-64/pkg-1.0-0.tar.bz2: changed" in stdout
    assert 'depends: ["numpy >=1.2,<1.3.0a0"] -> ["numpy >=1.2,<2.0a0"]' in stdout
    assert 'constrains: (absent) -> ["numpy <3"]' in stdout
    assert "pkg: 2 / 0 / 0; depends" in stdout
    assert "3 records in 2 subdirs, 2 package names" in stdout

    code, stdout, _ = run(
        capsys, "patch", "diff", str(channel), "--patch-generator", str(new), "--json"
    )
    report = json.loads(stdout)
    assert [r["filename"] for r in report["records"]] == [
        "pkg-1.0-0.conda",
        "pkg-1.0-0.tar.bz2",
        "other-1.0-0.conda",
    ]
    assert report["records"][2]["keys"] == [{"key": "constrains", "after": ["numpy <3"]}]
    assert report["summary"]["other"] == {
        "changed": 1,
        "removed": 0,
        "added": 0,
        "keys": ["constrains"],
    }
    code, stdout, _ = run(
        capsys,
        *("patch", "diff", str(channel), "--patch-generator", str(new), "--json"),
        *("--subdir", "noarch"),
    )
    assert [r["subdir"] for r in json.loads(stdout)["records"]] == ["noarch"]


def test_diff_of_removals_and_other_sources(
    channel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "patch_instructions.json"
    source.write_text(json.dumps({"noarch": {"remove": ["other-1.0-0.conda"]}}))
    code, stdout, _ = run(
        capsys, "patch", "diff", str(channel), "--patch-generator", str(source), "--json"
    )
    assert code == 0
    records = json.loads(stdout)["records"]
    statuses = {(r["filename"], r["status"]) for r in records}
    assert ("other-1.0-0.conda", "removed") in statuses
    # without the old tightening, pkg's records change back
    assert ("pkg-1.0-0.tar.bz2", "changed") in statuses


def test_diff_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(OLD_RULES)
    (tmp_path / "empty").mkdir()
    code, _, stderr = run(
        capsys, "patch", "diff", str(tmp_path / "empty"), "--patch-generator", str(rules)
    )
    assert code == 1 and "repodata_from_packages.json" in stderr


def test_diff_records_and_summary() -> None:
    before = {
        "a-1-0.conda": {"name": "a", "depends": ["x"], "license": "MIT"},
        "b-1-0.conda": {"name": "b"},
        "c-1-0.conda": {"name": "c"},
    }
    after = {
        "a-1-0.conda": {"name": "a", "depends": ["x <2"], "constrains": ["y"]},
        "b-1-0.conda": {"name": "b"},
        "d-1-0.conda": {"name": "d"},
    }
    diffs = diff_records(before, after, "noarch")
    assert [(d.filename, d.status) for d in diffs] == [
        ("a-1-0.conda", "changed"),
        ("c-1-0.conda", "removed"),
        ("d-1-0.conda", "added"),
    ]
    keys = {key.key: (key.before, key.after) for key in diffs[0].keys}
    assert keys == {
        "constrains": (ABSENT, ["y"]),
        "depends": (["x"], ["x <2"]),
        "license": ("MIT", ABSENT),
    }
    summary = summarize(diffs)
    assert summary["a"].to_json() == {
        "changed": 1,
        "removed": 0,
        "added": 0,
        "keys": ["constrains", "depends", "license"],
    }
    assert summary["c"].removed == 1 and summary["d"].added == 1
    assert records_of({"packages": {"x": {}}, "packages.conda": {"y": {}}}) == {"x": {}, "y": {}}
