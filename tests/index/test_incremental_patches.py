"""Patch YAML in O(change) (issue 8 §4): after a commit only its records are patched again, and
the result is byte-identical to patching the whole channel from scratch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockyard.catalog import Catalog, sqlite_url
from stockyard.index import incremental_patches
from stockyard.index.incremental_patches import differ_only_within
from stockyard.index.manage import ChannelHandle, remove_package, set_yanked
from stockyard.index.run import IndexOptions, index_channel
from stockyard.index.workspace import ChannelWorkspace
from stockyard.storage import LocalStore

from .conftest import build_artifact
from .test_one_path import _fixed_clock, _published

RULES = """\
if:
  name: pkg*
then:
  - add_depends: extra-dep
---
if:
  name: twin
then:
  - replace_depends:
      old: python
      new: python >=3.9
"""


def _channel(root: Path, names: list[tuple[str, str, str]]) -> None:
    for name, version, fmt in names:
        build_artifact(root, "linux-64", name, version, fmt=fmt, depends=["python"])


def _index(channel: Path, rules: Path) -> None:
    index_channel(channel, IndexOptions(patch_source=str(rules), clock=_fixed_clock))


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def _count_full_generations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = incremental_patches.unpatched_repodata

    def counting(catalog, channel, subdir):  # type: ignore[no-untyped-def]
        calls.append(subdir)
        return original(catalog, channel, subdir)

    monkeypatch.setattr(incremental_patches, "unpatched_repodata", counting)
    return calls


def test_added_artifacts_are_patched_alone_and_match_a_full_build(
    tmp_path: Path, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = [("pkg-a", "1.0", "conda"), ("other", "1.0", "conda"), ("twin", "1.0", "tar.bz2")]
    later = [("pkg-b", "1.0", "conda"), ("twin", "1.0", "conda"), ("plain", "2.0", "tar.bz2")]
    incremental = tmp_path / "incremental" / "chan"
    _channel(incremental, first)
    _index(incremental, rules)
    full_generations = _count_full_generations(monkeypatch)
    _channel(incremental, later)
    _index(incremental, rules)
    assert "linux-64" not in full_generations  # only the new records were patched
    whole = tmp_path / "whole" / "chan"
    _channel(whole, first + later)
    _index(whole, rules)
    ours, theirs = _published(incremental), _published(whole)
    assert {k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k)} == set()
    repodata = json.loads(ours["linux-64/repodata.json"])
    assert repodata["packages.conda"]["pkg-b-1.0-0.conda"]["depends"] == ["python", "extra-dep"]
    assert repodata["packages.conda"]["twin-1.0-0.conda"]["depends"] == ["python >=3.9"]


def test_new_rules_regenerate_and_yanks_and_removals_match_a_full_build(
    tmp_path: Path, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [("pkg-a", "1.0", "conda"), ("pkg-c", "1.0", "tar.bz2"), ("pkg-c", "1.0", "conda")]
    channel_dir = tmp_path / "chan"
    _channel(channel_dir, names)
    _index(channel_dir, rules)
    catalog = Catalog.open(sqlite_url(channel_dir / ".stockyard" / "catalog.db"))
    handle = ChannelHandle(
        catalog.require_channel("chan"), LocalStore(channel_dir), ChannelWorkspace(channel_dir)
    )
    full_generations = _count_full_generations(monkeypatch)
    try:
        set_yanked(catalog, handle, "linux-64", "pkg-a-1.0-0.conda", True)
        set_yanked(catalog, handle, "linux-64", "pkg-a-1.0-0.conda", False)
        remove_package(catalog, handle, "linux-64", "pkg-c-1.0-0.tar.bz2")
    finally:
        catalog.close()
    assert full_generations == []
    whole = tmp_path / "whole" / "chan"
    _channel(whole, names)
    (whole / "linux-64" / "pkg-c-1.0-0.tar.bz2").unlink()
    _index(whole, rules)
    ours, theirs = _published(channel_dir), _published(whole)
    ours_repodata = json.loads(ours.pop("linux-64/repodata.json"))
    theirs_repodata = json.loads(theirs.pop("linux-64/repodata.json"))
    assert ours_repodata["removed"] == ["pkg-c-1.0-0.tar.bz2"]  # the whole build never had it
    ours_repodata["removed"] = []
    assert ours_repodata == theirs_repodata
    assert "revoked" not in ours_repodata["packages.conda"]["pkg-a-1.0-0.conda"]
    # New rules: every record of the subdir is patched again.
    rules.write_text(RULES.replace("extra-dep", "other-dep"))
    _index(channel_dir, rules)
    assert "linux-64" in full_generations
    repodata = json.loads((channel_dir / "linux-64" / "repodata.json").read_text())
    assert repodata["packages.conda"]["pkg-a-1.0-0.conda"]["depends"] == ["python", "other-dep"]


def test_differ_only_within() -> None:
    old = {"packages": {"a.tar.bz2": {"x": 1}}, "packages.conda": {"b.conda": {"y": 1}}}
    assert differ_only_within(old, old, set())
    changed_b = {**old, "packages.conda": {"b.conda": {"y": 2}}}
    assert differ_only_within(old, changed_b, {"b.conda"})
    assert not differ_only_within(old, changed_b, {"a.tar.bz2"})
    changed_a = {**old, "packages": {"a.tar.bz2": {"x": 2}}}
    assert not differ_only_within(old, changed_a, {"a.tar.bz2"})  # reaches a.conda
    assert differ_only_within(old, changed_a, {"a.tar.bz2", "a.conda"})
    assert not differ_only_within(old, {**old, "revoke": ["c.conda"]}, {"a.tar.bz2"})
    assert differ_only_within(old, {**old, "revoke": ["c.conda"]}, {"c.conda"})


TWIN = {"twin-1.0-0.tar.bz2", "twin-1.0-0.conda"}


@pytest.mark.parametrize(
    ("new_rules", "repatched"),
    [
        # A literal-name rule edited: only twin's records are patched again.
        (RULES.replace("new: python >=3.9", "new: python >=3.10"), TWIN),
        # An open (glob) rule edited: the names it accepts now, and (it was removed) every name
        # with patched records.
        (RULES.replace("extra-dep", "other-dep"), {"pkg-a-1.0-0.conda", *TWIN}),
        # A rule added.
        (RULES + "---\nif:\n  name: other\nthen:\n  - add_depends: more\n", {"other-1.0-0.conda"}),
        # The same rules in another order: everything is patched again.
        ("---\n".join(reversed(RULES.split("---\n"))), None),
    ],
    ids=["literal", "open", "added", "reordered"],
)
def test_rule_changes_repatch_only_affected_names_and_match_a_full_build(
    tmp_path: Path,
    rules: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_rules: str,
    repatched: set[str] | None,
) -> None:
    names = [
        ("pkg-a", "1.0", "conda"),
        ("other", "1.0", "conda"),
        ("twin", "1.0", "tar.bz2"),
        ("twin", "1.0", "conda"),
    ]
    channel_dir = tmp_path / "chan"
    _channel(channel_dir, names)
    _index(channel_dir, rules)
    full_generations = _count_full_generations(monkeypatch)
    scopes: list[set[str]] = []
    original = incremental_patches._updated

    def spying(catalog, channel, source, subdir, base, affected):  # type: ignore[no-untyped-def]
        scopes.append(set(affected))
        return original(catalog, channel, source, subdir, base, affected)

    monkeypatch.setattr(incremental_patches, "_updated", spying)
    rules.write_text(new_rules)
    _index(channel_dir, rules)
    assert ("linux-64" in full_generations) == (repatched is None)
    if repatched is not None:
        assert set().union(*scopes) == repatched
    whole = tmp_path / "whole" / "chan"
    _channel(whole, names)
    _index(whole, rules)
    ours, theirs = _published(channel_dir), _published(whole)
    assert {k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k)} == set()


def test_a_run_that_changes_nothing_computes_no_instructions(
    tmp_path: Path, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel_dir = tmp_path / "chan"
    _channel(channel_dir, [("pkg-a", "1.0", "conda"), ("twin", "1.0", "tar.bz2")])
    _index(channel_dir, rules)
    computed: list[str] = []
    original = incremental_patches.yaml_instructions

    def spying(*args, **kwargs):  # type: ignore[no-untyped-def]
        computed.append(args[4])
        return original(*args, **kwargs)

    monkeypatch.setattr("stockyard.index.commit.yaml_instructions", spying)
    before = _published(channel_dir)
    _index(channel_dir, rules)
    assert computed == []
    assert _published(channel_dir) == before
    rules.write_text(RULES.replace("extra-dep", "other-dep"))  # new rules: computed again
    _index(channel_dir, rules)
    assert "linux-64" in computed


def test_turning_patches_off_and_on_again_repatches(tmp_path: Path, rules: Path) -> None:
    """The YAML sidecar must not vouch for instructions another source (or none) published."""
    channel_dir = tmp_path / "chan"
    _channel(channel_dir, [("pkg-a", "1.0", "conda")])
    _index(channel_dir, rules)
    index_channel(channel_dir, IndexOptions(patch_source="", clock=_fixed_clock))  # off
    record = json.loads((channel_dir / "linux-64" / "repodata.json").read_text())
    assert record["packages.conda"]["pkg-a-1.0-0.conda"]["depends"] == ["python"]
    _index(channel_dir, rules)  # the same rules again
    record = json.loads((channel_dir / "linux-64" / "repodata.json").read_text())
    assert record["packages.conda"]["pkg-a-1.0-0.conda"]["depends"] == ["python", "extra-dep"]
