"""Patch sources: JSON files and directories, patch packages, Python generators; bad ones fail
early with a StockyardError."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import conda_package_handling.api as cph
import pytest

from stockyard.patches import apply_patch_instructions
from stockyard.patches.sources import load_patch_source
from stockyard.types.errors import (
    ConfigError,
    InvalidArtifact,
    InvalidMetadata,
    StockyardError,
)

LINUX = {"packages": {"a-1.0-0.tar.bz2": {"depends": ["linux"]}}, "remove": ["b-1.0-0.tar.bz2"]}
NOARCH = {"patch_instructions_version": 1, "revoke": ["c-1.0-0.tar.bz2"]}
REPODATA: dict[str, Any] = {
    "packages": {"a-1.0-0.tar.bz2": {"name": "a", "version": "1.0", "depends": []}},
    "packages.conda": {},
}


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def make_patch_package(
    tmp_path: Path, filename: str, subdirs: dict[str, Any], *, raw: bytes | None = None
) -> Path:
    """A noarch patch package holding <subdir>/patch_instructions.json in its payload."""
    prefix = tmp_path / f"prefix-{filename}"
    files = []
    for subdir, instructions in subdirs.items():
        target = prefix / subdir / "patch_instructions.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw if raw is not None else json.dumps(instructions).encode())
        files.append(f"{subdir}/patch_instructions.json")
    name, version, build = filename.rsplit(".", 2 if filename.endswith(".tar.bz2") else 1)[
        0
    ].rsplit("-", 2)
    index = {"name": name, "version": version, "build": build, "build_number": 0}
    write_json(prefix / "info" / "index.json", {**index, "subdir": "noarch"})
    files.append("info/index.json")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    cph.create(str(prefix), files, filename, out_folder=str(out))
    return out / filename


# --- JSON files and directories ---------------------------------------------------------------


def test_single_instructions_file_applies_to_every_subdir(tmp_path: Path) -> None:
    source = load_patch_source(str(write_json(tmp_path / "patch_instructions.json", LINUX)))
    assert source.instructions_for("linux-64", REPODATA) == LINUX
    assert source.instructions_for("noarch", REPODATA) == LINUX
    patched = apply_patch_instructions(REPODATA, source.instructions_for("linux-64", REPODATA))
    assert patched["packages"]["a-1.0-0.tar.bz2"]["depends"] == ["linux"]


def test_file_keyed_by_subdir(tmp_path: Path) -> None:
    path = write_json(tmp_path / "patches.json", {"linux-64": LINUX, "noarch": NOARCH})
    source = load_patch_source(str(path))
    assert source.instructions_for("linux-64", REPODATA) == LINUX
    assert source.instructions_for("noarch", REPODATA) == NOARCH
    assert source.instructions_for("osx-arm64", REPODATA) == {}


def test_instructions_are_fresh_copies(tmp_path: Path) -> None:
    source = load_patch_source(str(write_json(tmp_path / "p.json", LINUX)))
    first = source.instructions_for("linux-64", REPODATA)
    first["packages"].clear()
    assert source.instructions_for("linux-64", REPODATA) == LINUX


def test_fingerprint_is_stable_and_follows_content(tmp_path: Path) -> None:
    path = write_json(tmp_path / "p.json", {"linux-64": LINUX})
    first = load_patch_source(str(path)).fingerprint
    assert load_patch_source(str(path)).fingerprint == first
    copy = write_json(tmp_path / "elsewhere" / "p.json", {"linux-64": LINUX})
    assert load_patch_source(str(copy)).fingerprint == first
    write_json(path, {"linux-64": NOARCH})
    assert load_patch_source(str(path)).fingerprint != first
    assert len(first) == 64


def test_directory_of_subdir_files(tmp_path: Path) -> None:
    write_json(tmp_path / "patches" / "linux-64" / "patch_instructions.json", LINUX)
    write_json(tmp_path / "patches" / "noarch" / "patch_instructions.json", NOARCH)
    (tmp_path / "patches" / "not a subdir").mkdir()
    source = load_patch_source(str(tmp_path / "patches"))
    assert source.instructions_for("linux-64", REPODATA) == LINUX
    assert source.instructions_for("noarch", REPODATA) == NOARCH
    assert source.instructions_for("win-64", REPODATA) == {}


def test_relative_spec_is_found_in_the_channel_dir(tmp_path: Path) -> None:
    write_json(tmp_path / "channel" / "hotfix.json", LINUX)
    source = load_patch_source("hotfix.json", channel_dir=tmp_path / "channel")
    assert source.instructions_for("linux-64", REPODATA) == LINUX


@pytest.mark.parametrize(
    ("content", "error", "fragment"),
    [
        (b"{not json", InvalidMetadata, "not valid JSON"),
        (b"[1, 2]", InvalidMetadata, "must be a JSON object"),
        (b'{"packages": {"a-1.0-0.tar.bz2": "x"}}', InvalidMetadata, "a-1.0-0.tar.bz2"),
        (b'{"linux-64": {"revoke": "a"}}', InvalidMetadata, "instructions for linux-64"),
        (b'{"Linux 64": {}}', InvalidMetadata, "unexpected key 'Linux 64'"),
        (b'{"patch_instructions_version": 3}', InvalidMetadata, "<= 2"),
    ],
)
def test_invalid_json_sources(
    tmp_path: Path, content: bytes, error: type[StockyardError], fragment: str
) -> None:
    path = tmp_path / "patch_instructions.json"
    path.write_bytes(content)
    with pytest.raises(error) as info:
        load_patch_source(str(path))
    assert fragment in info.value.message
    assert info.value.hint


def test_invalid_file_inside_a_directory(tmp_path: Path) -> None:
    write_json(tmp_path / "linux-64" / "patch_instructions.json", {"remove": "x"})
    with pytest.raises(InvalidMetadata, match="linux-64"):
        load_patch_source(str(tmp_path))


def test_directory_without_instructions(tmp_path: Path) -> None:
    (tmp_path / "linux-64").mkdir()
    with pytest.raises(ConfigError, match="holds no"):
        load_patch_source(str(tmp_path))


def test_missing_and_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_patch_source(str(tmp_path / "nope.json"))
    with pytest.raises(ConfigError, match="no channel directory"):
        load_patch_source("some-patches")
    (tmp_path / "patches.yaml").write_text("a: 1")
    with pytest.raises(ConfigError, match="unknown kind"):
        load_patch_source(str(tmp_path / "patches.yaml"))


# --- patch packages ---------------------------------------------------------------------------


@pytest.mark.parametrize("extension", [".conda", ".tar.bz2"])
def test_patch_package(tmp_path: Path, extension: str) -> None:
    path = make_patch_package(
        tmp_path, f"my-patches-20240101-0{extension}", {"linux-64": LINUX, "noarch": NOARCH}
    )
    source = load_patch_source(str(path))
    assert source.instructions_for("linux-64", REPODATA) == LINUX
    assert source.instructions_for("noarch", REPODATA) == NOARCH
    # conda-index gives a subdir the package does not cover empty instructions.
    assert source.instructions_for("zos-z", REPODATA) == {}


def test_patch_package_by_name_takes_the_newest_in_noarch(tmp_path: Path) -> None:
    noarch = tmp_path / "channel" / "noarch"
    noarch.mkdir(parents=True)
    older = {"linux-64": {"revoke": ["old-1-0.tar.bz2"]}}
    for filename, subdirs in (
        ("my-patches-20231231.9-0.conda", older),
        ("my-patches-20240101-0.tar.bz2", older),
        ("my-patches-20240101-1.conda", {"linux-64": LINUX}),
        ("my-patches-extra-20990101-0.conda", older),
    ):
        os.replace(make_patch_package(tmp_path, filename, subdirs), noarch / filename)
    source = load_patch_source("my-patches", channel_dir=tmp_path / "channel")
    assert source.instructions_for("linux-64", REPODATA) == LINUX
    with pytest.raises(ConfigError, match="no package named other-patches"):
        load_patch_source("other-patches", channel_dir=tmp_path / "channel")


def test_patch_package_without_instructions(tmp_path: Path) -> None:
    path = make_patch_package(tmp_path, "empty-1.0-0.conda", {})
    with pytest.raises(InvalidMetadata, match="holds no"):
        load_patch_source(str(path))


def test_patch_package_with_invalid_instructions(tmp_path: Path) -> None:
    path = make_patch_package(tmp_path, "bad-1.0-0.tar.bz2", {"linux-64": {}}, raw=b"{oops")
    with pytest.raises(InvalidMetadata, match=r"linux-64/patch_instructions\.json"):
        load_patch_source(str(path))


@pytest.mark.parametrize("filename", ["broken-1.0-0.conda", "broken-1.0-0.tar.bz2"])
def test_corrupt_patch_package(tmp_path: Path, filename: str) -> None:
    path = tmp_path / filename
    path.write_bytes(b"this is not an archive")
    with pytest.raises(InvalidArtifact):
        load_patch_source(str(path))


# --- Python generators ------------------------------------------------------------------------

GENERATOR = """
from collections import defaultdict

def _patch_repodata(repodata, subdir):
    packages = defaultdict(dict)
    for filename in repodata["packages"]:
        packages[filename]["depends"] = ["patched-" + subdir]
    repodata["packages"].clear()  # must not reach the caller's repodata
    return {"patch_instructions_version": 1, "packages": packages, "revoke": (), "remove": []}
"""


def test_python_generator(tmp_path: Path) -> None:
    path = tmp_path / "gen_patch.py"
    path.write_text(GENERATOR)
    source = load_patch_source(str(path))
    repodata = json.loads(json.dumps(REPODATA))
    instructions = source.instructions_for("linux-64", repodata)
    assert instructions == {
        "patch_instructions_version": 1,
        "packages": {"a-1.0-0.tar.bz2": {"depends": ["patched-linux-64"]}},
        "revoke": [],
        "remove": [],
    }
    assert repodata == REPODATA
    fingerprint = source.fingerprint
    path.write_text(GENERATOR + "\n# changed\n")
    assert load_patch_source(str(path)).fingerprint != fingerprint


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        ("def something_else(repodata, subdir):\n    return {}\n", ConfigError, "defines no"),
        ("def _patch_repodata(repodata, subdir):\n    return {\n", ConfigError, "SyntaxError"),
        ("raise RuntimeError('boom')\n", ConfigError, "boom"),
    ],
)
def test_python_generator_that_cannot_load(
    tmp_path: Path, body: str, error: type[StockyardError], fragment: str
) -> None:
    path = tmp_path / "gen.py"
    path.write_text(body)
    with pytest.raises(error, match=fragment):
        load_patch_source(str(path))


@pytest.mark.parametrize(
    ("returned", "error", "fragment"),
    [
        ("1 / 0", ConfigError, "ZeroDivisionError"),
        ("{'revoke': 'x'}", InvalidMetadata, "$.revoke"),
        ("{'patch_instructions_version': 3}", InvalidMetadata, "<= 2"),
        ("{'remove': [object()]}", InvalidMetadata, "not JSON data"),
        ("None", InvalidMetadata, "invalid"),
    ],
)
def test_python_generator_with_bad_results(
    tmp_path: Path, returned: str, error: type[StockyardError], fragment: str
) -> None:
    path = tmp_path / "gen.py"
    path.write_text(f"def _patch_repodata(repodata, subdir):\n    return {returned}\n")
    source = load_patch_source(str(path))
    with pytest.raises(error) as info:
        source.instructions_for("noarch", REPODATA)
    assert fragment in info.value.message
    assert str(path) in info.value.message
