"""The whole real conda-forge patch YAML set (tests/data/conda-forge-patches) on real records:
Stockyard's indexed engine against a straightforward reference implementation
(tests/patches/yaml_reference.py) and against the same rules evaluated without the index,
record by record; and the generated instructions, applied with conda-index semantics, give
exactly the engine's records."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stockyard.patches import apply_patch_instructions
from stockyard.patches.instructions_gen import instructions_from_changes
from stockyard.patches.yaml_rules import PatchYamlRules, load_patch_yaml
from stockyard.testing.corpus import load_shared_records
from tests.patches import yaml_reference, yaml_targets

DATA = Path(__file__).resolve().parents[1] / "data" / "conda-forge-patches" / "recipe"
PATCH_YAML = DATA / "patch_yaml"


@pytest.fixture(scope="module")
def rules() -> PatchYamlRules:
    return load_patch_yaml(PATCH_YAML)


@pytest.fixture(scope="module")
def reference() -> yaml_reference.Reference:
    return yaml_reference.Reference(yaml_reference.load_documents(PATCH_YAML))


@pytest.fixture(scope="module")
def real_records() -> list[tuple[str, dict[str, Any], str]]:
    return [(fn, record, record["subdir"]) for fn, record in load_shared_records()]


@pytest.fixture(scope="module")
def targeted(
    real_records: list[tuple[str, dict[str, Any], str]],
) -> list[tuple[str, dict[str, Any], str]]:
    documents = yaml_reference.load_documents(PATCH_YAML)
    bases = [record for _, record, _ in real_records[::25]]
    return yaml_targets.target_records(documents, bases, per_document=2, seed=8)


def test_the_real_set_is_complete(rules: PatchYamlRules) -> None:
    assert len(list(PATCH_YAML.iterdir())) == 527
    # `questionary` has no .yaml suffix: conda-forge's engine (glob *.yaml) skips it, so do we.
    assert len(list(PATCH_YAML.glob("*.yaml"))) == 526
    assert len(rules.rules) == 1071
    assert not any(rule.origin.endswith("questionary") for rule in rules.rules)


def _compare(
    rules: PatchYamlRules,
    reference: yaml_reference.Reference,
    records: list[tuple[str, dict[str, Any], str]],
) -> int:
    """Compare record by record; the number of records the rules change."""
    changed = 0
    for filename, record, subdir in records:
        engine = rules.patch_record(filename, record, subdir)
        expected = reference.patch(filename, record, subdir)
        assert engine == expected, (filename, record)
        assert rules.patch_record_linear(filename, record, subdir) == expected, filename
        changed += engine != record
    return changed


def test_real_records_changed(
    rules: PatchYamlRules, real_records: list[tuple[str, dict[str, Any], str]]
) -> None:
    changed = sum(rules.patch_record(fn, r, subdir) != r for fn, r, subdir in real_records)
    assert len(real_records) == 10510
    # pandas and bokeh pins of dask, numpy and python bounds, cudatoolkit, pytorch...
    assert changed == 666


@pytest.mark.parametrize("chunk", range(4))
def test_real_records_match_the_reference(
    rules: PatchYamlRules,
    reference: yaml_reference.Reference,
    real_records: list[tuple[str, dict[str, Any], str]],
    chunk: int,
) -> None:
    _compare(rules, reference, real_records[chunk::4])


def test_records_aimed_at_every_rule_match_the_reference(
    rules: PatchYamlRules,
    reference: yaml_reference.Reference,
    targeted: list[tuple[str, dict[str, Any], str]],
) -> None:
    changed = _compare(rules, reference, targeted)
    assert changed > len(targeted) // 2
    # Most rules fire on the records aimed at them.
    fired = Counter[int]()
    for filename, record, subdir in targeted:
        for rule in rules.rules:
            if rule.matches_all(record, subdir, filename):
                fired[rule.order] += 1
    assert len(fired) / len(rules.rules) > 0.85


def _repodata(records: list[tuple[str, dict[str, Any], str]]) -> dict[str, dict[str, Any]]:
    by_subdir: dict[str, dict[str, Any]] = {}
    for filename, record, subdir in records:
        repodata = by_subdir.setdefault(subdir, {"packages": {}, "packages.conda": {}})
        section = "packages.conda" if filename.endswith(".conda") else "packages"
        repodata[section][filename] = record
    return by_subdir


@pytest.mark.parametrize("kind", ["real", "targeted"])
def test_instructions_applied_give_the_engine_records(
    rules: PatchYamlRules,
    real_records: list[tuple[str, dict[str, Any], str]],
    targeted: list[tuple[str, dict[str, Any], str]],
    kind: str,
) -> None:
    records = real_records if kind == "real" else targeted
    twins_corrected = 0
    for subdir, repodata in _repodata(records).items():
        changed = rules.changed_records(repodata, subdir)
        instructions = instructions_from_changes(repodata, changed)
        assert set(instructions) == {
            "patch_instructions_version",
            "packages",
            "packages.conda",
            "remove",
            "revoke",
        }
        applied = apply_patch_instructions(repodata, instructions)
        for section in ("packages", "packages.conda"):
            for filename, record in repodata[section].items():
                assert applied[section][filename] == changed.get(filename, record), filename
        for filename, entry in instructions["packages"].items():
            # only the keys that changed
            original = repodata["packages"][filename]
            assert all(original.get(key) != value for key, value in entry.items())
        twins_corrected += sum(
            1
            for filename in instructions["packages.conda"]
            if filename.replace(".conda", ".tar.bz2") in instructions["packages"]
        )
    if kind == "targeted":
        assert twins_corrected > 0


def test_shuffled_rule_lookups_do_not_change_results(
    rules: PatchYamlRules, targeted: list[tuple[str, dict[str, Any], str]]
) -> None:
    """The per-name and per-entry caches give the same answers in any order of records."""
    first = [rules.patch_record(fn, record, subdir) for fn, record, subdir in targeted]
    fresh = load_patch_yaml(PATCH_YAML, cached=False)
    assert fresh is not rules
    order = list(range(len(targeted)))
    random.Random(3).shuffle(order)
    for index in order:
        filename, record, subdir = targeted[index]
        assert fresh.patch_record(filename, record, subdir) == first[index]
