"""`stockyard validate`: output lines, --json shape, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stockyard.cli.main import main
from stockyard.validate import KINDS

from ..conftest import R_REPODATA
from .conftest import repodata


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write(tmp_path / "good" / "repodata.json", repodata())


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    doc = repodata()
    doc["packages"]["numpy-1.0-py_0.tar.bz2"]["build_number"] = -1
    doc["repodata_version"] = 2
    return write(tmp_path / "bad" / "repodata.json", doc)


def test_valid_file_exits_0_with_a_summary(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [f"{good}: ok (3 records) repodata"]


def test_invalid_file_exits_1_with_one_line_per_problem(
    good: Path, bad: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(good), str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{good}: ok (3 records) repodata",
        f"{bad}: /info: repodata_version 2 requires info.base_url (CEP 15)",
        f"{bad}: /packages/numpy-1.0-py_0.tar.bz2/build_number: expected an integer from 0 to "
        "2^64-1, got -1",
        f"{bad}: 2 problems repodata",
    ]


def test_json_output_is_one_list_of_reports(
    good: Path, bad: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--json", str(good), str(bad)]) == 1
    reports = json.loads(capsys.readouterr().out)
    assert [set(r) for r in reports] == [
        {"path", "kind", "valid", "problems", "records", "notes", "warnings"}
    ] * 2
    assert [(r["path"], r["kind"], r["valid"], r["records"]) for r in reports] == [
        (str(good), "repodata", True, 3),
        (str(bad), "repodata", False, 3),
    ]
    assert reports[1]["problems"][1] == {
        "pointer": "/packages/numpy-1.0-py_0.tar.bz2/build_number",
        "message": "expected an integer from 0 to 2^64-1, got -1",
        "severity": "error",
    }


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    doc = repodata()
    doc["packages"]["numpy-1.0-py_0.tar.bz2"]["noarch"] = True
    return write(tmp_path / "legacy" / "repodata.json", doc)


def test_warnings_are_printed_and_exit_0(legacy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(legacy)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{legacy}: /packages/numpy-1.0-py_0.tar.bz2/noarch: warning: ")
    assert "boolean true" in lines[0]
    assert lines[1] == f"{legacy}: ok (3 records), 1 warning repodata"


def test_strict_fails_on_warnings(legacy: Path, good: Path) -> None:
    assert main(["validate", "--strict", str(good)]) == 0
    assert main(["validate", "--strict", str(legacy)]) == 1


def test_json_warnings_have_severity_warning(
    legacy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--json", str(legacy)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["valid"] is True
    assert [(w["pointer"], w["severity"]) for w in report["warnings"]] == [
        ("/packages/numpy-1.0-py_0.tar.bz2/noarch", "warning")
    ]


def test_missing_path_is_a_clear_error_and_others_still_run(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope" / "repodata.json"
    assert main(["validate", str(missing), str(good)]) == 1
    captured = capsys.readouterr()
    assert f"{missing} does not exist" in captured.err
    assert f"{good}: ok" in captured.out
    assert "Traceback" not in captured.err


def test_directory_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err


def test_unknown_kind_from_name_asks_for_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "mystery.json", {"what": "ever"})
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "cannot tell what kind of document" in err
    assert "--kind" in err


def test_kind_option_overrides_the_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "mystery.json", {"a-1-0.tar.bz2": {"name": "a"}})
    assert main(["validate", "--kind", "packages", str(path)]) == 1
    assert "missing required keys" in capsys.readouterr().out


def test_bad_kind_option(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--kind", "nonsense", str(good)]) == 1
    assert "unknown --kind 'nonsense'" in capsys.readouterr().err


def test_malformed_json_is_a_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "repodata.json"
    path.write_bytes(b'{"packages": {')
    assert main(["validate", "--json", str(path)]) == 1
    [report] = json.loads(capsys.readouterr().out)
    [problem] = report["problems"]
    assert problem["pointer"] == ""
    assert problem["message"].startswith("not valid JSON")


def test_markup_in_messages_is_printed_verbatim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = repodata()
    doc["packages"]["[red]x-1-0.tar.bz2"] = doc["packages"]["numpy-1.0-py_0.tar.bz2"]
    path = write(tmp_path / "repodata.json", doc)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "/packages/[red]x-1-0.tar.bz2: bad filename key: package name '[red]x' is invalid" in out


def test_help_lists_the_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--help"]) == 0
    out = capsys.readouterr().out
    for kind in KINDS:
        assert kind in out


def test_no_path_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 2
    assert "Missing argument" in capsys.readouterr().err


def test_real_repodata_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--kind", "repodata", str(R_REPODATA)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{R_REPODATA}: ok (4211 records) repodata"
