"""Patch YAML as a patch source: told apart by content, compiled once, instructions per subdir,
invalid files refused before anything is published (also through `stockyard index`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from stockyard.index.run import IndexOptions, index_channel
from stockyard.patches.sources import GeneratorPatchSource, YamlPatchSource, load_patch_source
from stockyard.types.errors import ConfigError, InvalidMetadata
from tests.index.conftest import build_artifact

DATA = Path(__file__).resolve().parents[1] / "data" / "conda-forge-patches" / "recipe"

RULES = """\
# pin numpy in pkg's old builds
if:
  name: pkg
  timestamp_lt: 1800000000000
then:
  - tighten_depends:
      name: numpy
      max_pin: x.x
---
if:
  has_depends: numpy?( *)
  not_name: pkg
then:
  - add_constrains: numpy <3
"""
REPODATA: dict[str, Any] = {
    "packages": {
        "pkg-1.0-0.tar.bz2": {
            "name": "pkg",
            "version": "1.0",
            "build": "0",
            "build_number": 0,
            "depends": ["numpy >=1.2,<2.0a0"],
            "timestamp": 1700000000000,
        }
    },
    "packages.conda": {
        "pkg-1.0-0.conda": {
            "name": "pkg",
            "version": "1.0",
            "build": "0",
            "build_number": 0,
            "depends": ["numpy >=1.2,<2.0a0"],
            "timestamp": 1700000000000,
        },
        "other-1.0-0.conda": {"name": "other", "version": "1", "depends": ["numpy"]},
    },
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_yaml_file_is_a_generator_source(tmp_path: Path) -> None:
    source = load_patch_source(str(write(tmp_path / "patches.yaml", RULES)))
    assert isinstance(source, YamlPatchSource)
    # The index builds the unpatched repodata only for generator sources (index/commit.py).
    assert isinstance(source, GeneratorPatchSource)
    assert source.instructions_for("linux-64", REPODATA) == {
        "patch_instructions_version": 1,
        "packages": {"pkg-1.0-0.tar.bz2": {"depends": ["numpy >=1.2,<1.3.0a0"]}},
        # pkg-1.0-0.conda is patched through its .tar.bz2 twin's entry (conda-index)
        "packages.conda": {"other-1.0-0.conda": {"constrains": ["numpy <3"]}},
        "remove": [],
        "revoke": [],
    }


def test_yml_files_directories_and_recipe_directories(tmp_path: Path) -> None:
    single = load_patch_source(str(write(tmp_path / "one.yml", RULES)))
    first, second = RULES.split("---\n")
    write(tmp_path / "dir" / "b.yaml", second)
    write(tmp_path / "dir" / "a.yml", first)
    write(tmp_path / "dir" / "notes.txt", "not a patch")
    directory = load_patch_source(str(tmp_path / "dir"))
    assert isinstance(directory, YamlPatchSource)
    assert [rule.origin.rsplit("/", 1)[-1] for rule in directory.rules.rules] == ["a.yml", "b.yaml"]
    assert directory.instructions_for("noarch", REPODATA) == single.instructions_for(
        "noarch", REPODATA
    )
    recipe = tmp_path / "recipe"
    shutil.copytree(tmp_path / "dir", recipe / "patch_yaml")
    assert isinstance(load_patch_source(str(recipe)), YamlPatchSource)


def test_the_real_conda_forge_set_loads(tmp_path: Path) -> None:
    source = load_patch_source(str(DATA / "patch_yaml"))
    assert isinstance(source, YamlPatchSource)
    assert len(source.rules.rules) == 1071
    assert load_patch_source(str(DATA)).fingerprint == source.fingerprint


def test_an_instructions_directory_is_still_one(tmp_path: Path) -> None:
    write(tmp_path / "p" / "linux-64" / "patch_instructions.json", json.dumps({"remove": ["x"]}))
    write(tmp_path / "p" / "README.yaml", "title: not patches\n")
    source = load_patch_source(str(tmp_path / "p"))
    assert not isinstance(source, YamlPatchSource)
    assert source.instructions_for("linux-64", REPODATA) == {"remove": ["x"]}


def test_fingerprint_follows_content_not_location(tmp_path: Path) -> None:
    first = load_patch_source(str(write(tmp_path / "a" / "p.yaml", RULES))).fingerprint
    assert load_patch_source(str(write(tmp_path / "b" / "p.yaml", RULES))).fingerprint == first
    changed = RULES.replace("x.x", "x")
    assert load_patch_source(str(write(tmp_path / "c" / "p.yaml", changed))).fingerprint != first
    json_source = load_patch_source(str(write(tmp_path / "p.json", "{}")))
    assert json_source.fingerprint != first


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("if: {name: pkg}\nthen: [{add_depends: x}]\n---\nif: [\n", "invalid YAML at line"),
        ("if: {name: pkg}\nthen: [{add_depends: x}]\n---\nif: {nme: x}\nthen: []\n", "if.nme"),
        ("if: {}\nthen:\n  - add_depends: 'x ${vershun}'\n", "then[0].add_depends"),
        ("if: {}\nthen: []\n", "document 0: then"),
    ],
)
def test_invalid_yaml_sources(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(InvalidMetadata) as caught:
        load_patch_source(str(path))
    assert str(path) in caught.value.message
    assert fragment in caught.value.message
    assert caught.value.hint


def test_yaml_that_is_not_patches_is_an_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown kind"):
        load_patch_source(str(write(tmp_path / "config.yaml", "a: 1\n")))
    empty = load_patch_source(str(write(tmp_path / "empty.yaml", "# nothing yet\n")))
    assert empty.instructions_for("noarch", REPODATA)["packages"] == {}


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"if: {name: caf\xe9}\nthen: [{add_depends: x}]\n")
    with pytest.raises(InvalidMetadata, match="not UTF-8"):
        load_patch_source(str(path))


# --- through the index ------------------------------------------------------------------------


def _json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def _snapshot(channel: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(channel)): path.read_bytes()
        for path in sorted(channel.rglob("*"))
        if path.is_file() and ".stockyard" not in path.parts
    }


def test_index_publishes_yaml_patches_and_refuses_a_bad_set(tmp_path: Path) -> None:
    channel = tmp_path / "chan"
    (channel / "noarch").mkdir(parents=True)
    build_artifact(channel, "linux-64", "pkg", depends=["numpy >=1.2,<2.0a0"], fmt="tar.bz2")
    build_artifact(channel, "linux-64", "pkg", depends=["numpy >=1.2,<2.0a0"], fmt="conda")
    build_artifact(channel, "noarch", "other", depends=["numpy"])
    patches = write(tmp_path / "patches" / "rules.yaml", RULES)
    index_channel(channel, IndexOptions(patch_source=str(patches.parent)))
    repodata = _json(channel / "linux-64" / "repodata.json")
    assert repodata["packages"]["pkg-1.0-0.tar.bz2"]["depends"] == ["numpy >=1.2,<1.3.0a0"]
    assert repodata["packages.conda"]["pkg-1.0-0.conda"]["depends"] == ["numpy >=1.2,<1.3.0a0"]
    noarch = _json(channel / "noarch" / "repodata.json")
    assert noarch["packages.conda"]["other-1.0-0.conda"]["constrains"] == ["numpy <3"]
    raw = _json(channel / "linux-64" / "repodata_from_packages.json")
    assert raw["packages"]["pkg-1.0-0.tar.bz2"]["depends"] == ["numpy >=1.2,<2.0a0"]
    # Editing the YAML re-patches on the next run.
    write(patches, RULES.replace("max_pin: x.x", "max_pin: x.x.x"))
    index_channel(channel, IndexOptions(patch_source=str(patches.parent)))
    repodata = _json(channel / "linux-64" / "repodata.json")
    assert repodata["packages"]["pkg-1.0-0.tar.bz2"]["depends"] == ["numpy >=1.2,<1.2.1.0a0"]
    # A broken set fails the run before anything is published.
    build_artifact(channel, "linux-64", "newer")
    before = _snapshot(channel)
    write(patches.parent / "zz.yaml", "if: {version_lt: [1]}\nthen: [{add_depends: x}]\n")
    with pytest.raises(InvalidMetadata, match=r"zz.yaml, document 0: if.version_lt"):
        index_channel(channel, IndexOptions(patch_source=str(patches.parent)))
    assert _snapshot(channel) == before


def test_compiled_rules_are_reused_while_the_files_stay_the_same(tmp_path: Path) -> None:
    """Every commit loads the channel's patch source: unchanged files are not parsed again."""
    path = write(tmp_path / "p" / "rules.yaml", RULES)
    first = load_patch_source(str(path.parent))
    second = load_patch_source(str(path.parent))
    assert isinstance(first, YamlPatchSource) and isinstance(second, YamlPatchSource)
    assert second.rules is first.rules
    write(path, RULES.replace("x.x", "x"))
    third = load_patch_source(str(path.parent))
    assert isinstance(third, YamlPatchSource)
    assert third.rules is not first.rules
    assert third.fingerprint != first.fingerprint
