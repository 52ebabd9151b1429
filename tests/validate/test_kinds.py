"""Which kind a file is, from its name (and, for odd names, its content)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from stockyard.validate.kinds import detect_kind, sniff_kind


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("linux-64/repodata.json", "repodata"),
        ("linux-64/repodata.json.zst", "repodata"),
        ("linux-64/repodata.json.bz2", "repodata"),
        ("linux-64/repodata_from_packages.json", "repodata"),
        ("linux-64/current_repodata.json", "repodata"),
        ("channeldata.json", "channeldata"),
        ("linux-64/run_exports.json", "run_exports"),
        ("linux-64/run_exports.json.zst", "run_exports"),
        ("pkg/info/run_exports.json", "run_exports_json"),
        ("linux-64/patch_instructions.json", "patch_instructions"),
        ("info/index.json", "index_json"),
        ("info/about.json", "about_json"),
        ("info/paths.json", "paths_json"),
        ("info/link.json", "link_json"),
        ("linux-64/repodata_shards.msgpack.zst", "shard_index"),
        ("linux-64/shards/" + "ab" * 32 + ".msgpack.zst", "shard"),
        ("linux-64/numpy-1.0-0.conda", "artifact"),
        ("linux-64/numpy-1.0-0.tar.bz2", "artifact"),
        ("README.md", None),
        ("anaconda-r-linux-64-2018.json", None),
    ],
)
def test_kind_from_filename(path: str, kind: str | None) -> None:
    assert detect_kind(PurePosixPath(path)) == kind


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"packages": {"a-1-0.tar.bz2": {"name": "a"}}}, "repodata"),
        ({"packages.conda": {"a-1-0.conda": {"run_exports": {}}}}, "run_exports"),
        ({"a-1-0.tar.bz2": {"name": "a"}}, "packages"),
        ({"channeldata_version": 1}, "channeldata"),
        ({"patch_instructions_version": 1}, "patch_instructions"),
        ({"name": "a", "version": "1", "build": "0"}, "index_json"),
        ({"something": "else"}, None),
        ([1, 2], None),
        ({}, None),
    ],
)
def test_kind_from_content(data: object, kind: str | None) -> None:
    assert sniff_kind(data) == kind
