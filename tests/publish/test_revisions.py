"""CEP 48 `v3` placement and the MatchSpec rewrite (`stockyard.publish.revisions`)."""

from __future__ import annotations

import json

import pytest
import rattler

from stockyard.publish.revisions import (
    V3Section,
    cep48_spec,
    may_need_v3,
    needs_v3,
    v3_bucket,
    v3_record,
)
from stockyard.types.encoding import encode_json


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("python", "python"),
        ("python >=3.8", 'python[version=">=3.8"]'),
        ("python>=3.8", 'python[version=">=3.8"]'),
        ("numpy >=1.23,<3", 'numpy[version=">=1.23,<3"]'),
        ("foo 1.0 h123_0", 'foo[version="1.0",build="h123_0"]'),
        ("python_abi 3.12.* *_cp312", 'python_abi[version="3.12.*",build="*_cp312"]'),
        ("__glibc >=2.17", '__glibc[version=">=2.17"]'),
        ("foo 1.0|1.1", 'foo[version="1.0|1.1"]'),
        ("numpy=1.11", 'numpy[version="=1.11"]'),
        ('numpy>=2[when="python>=3.10"]', 'numpy[version=">=2",when="python>=3.10"]'),
        (
            "package[version=2,build_number=0,when=__unix]",
            'package[version="2",build_number=0,when="__unix"]',
        ),
        ('foo[when="__unix", version=">=1"]', 'foo[version=">=1",when="__unix"]'),
        ("foo[extras=[a, b]]", "foo[extras=[a, b]]"),
        ('foo[flags=["cuda", "blas:*"]]', 'foo[flags=["cuda", "blas:*"]]'),
        ("foo[build_number='>=2']", 'foo[build_number=">=2"]'),
        ("pip[]", "pip"),
    ],
)
def test_specs_take_the_bracket_form(spec: str, expected: str) -> None:
    assert cep48_spec(spec) == expected
    assert str(rattler.MatchSpec(spec)) == str(rattler.MatchSpec(expected))


@pytest.mark.parametrize(
    "spec",
    [
        "conda-forge::numpy",  # channel: not allowed in v3, not ours to drop
        "numpy=1.11=py36_0",  # conda reads this version differently from the bracket form
        "python >= 3.8",  # spaces inside the version
        "foo*",  # globbed name
        "foo[md5=abc]",  # a field CEP 48 does not allow
        'foo >=1[version=">2"]',  # version given twice
        "foo (>=1|<0.5)",
        "foo 1.0 build extra",
        'foo[version="x]',
    ],
)
def test_unclear_specs_are_kept(spec: str) -> None:
    assert cep48_spec(spec) == spec


def test_needs_v3() -> None:
    base = {"name": "a", "depends": ["python >=3.8", "b[build_number=1]"]}
    assert not needs_v3(base)
    assert needs_v3({**base, "depends": ['b[when="__unix"]']})
    assert needs_v3({**base, "constrains": ["b[extras=[x]]"]})
    assert needs_v3({**base, "depends": ["b[version='1', flags=[cuda]]"]})
    assert needs_v3({**base, "extra_depends": {"test": ["pytest"]}})
    assert needs_v3({**base, "extra-depends": {"test": ["pytest"]}})
    assert needs_v3({**base, "flags": ["cuda"]})
    assert not needs_v3({**base, "extra_depends": {}, "flags": []})


def test_byte_test_finds_every_v3_record() -> None:
    for record in (
        {"depends": ['b[when="__unix"]']},
        {"depends": ["b[extras=[x]]"]},
        {"depends": ["b[flags=[cuda]]"]},
        {"extra_depends": {"t": ["x"]}},
        {"extra-depends": {"t": ["x"]}},
        {"flags": ["cuda"]},
    ):
        assert needs_v3(record) and may_need_v3(encode_json(record))
    assert not may_need_v3(encode_json({"depends": ["python >=3.8"], "name": "a"}))


def test_v3_record_renames_cep44_key_and_rewrites_specs() -> None:
    record = {
        "name": "a",
        "depends": ["b >=1", 7],
        "extra-depends": {"test": ["pytest >=8"]},
    }
    out = v3_record(record)
    assert out == {
        "name": "a",
        "depends": ['b[version=">=1"]', 7],
        "extra_depends": {"test": ['pytest[version=">=8"]']},
    }
    assert "extra-depends" in record  # the input is not changed


def test_buckets() -> None:
    assert v3_bucket("a-1-0.conda") == ("conda", "a-1-0")
    assert v3_bucket("a-1-0.tar.bz2") == ("tar.bz2", "a-1-0")
    assert v3_bucket("a-1-0.whl") is None


def test_section_counts_and_encodes_sorted() -> None:
    section = V3Section()
    assert section.revision() is None and section.encoded() == b""
    plain = encode_json({"name": "p", "depends": []})
    assert not section.add_if_needed("p-1-0.conda", plain)
    for filename, stamp in (("z-1-0.conda", 30), ("a-1-0.tar.bz2", 10), ("b-1-0.conda", None)):
        record = {"name": filename[0], "flags": ["x"]}
        if stamp is not None:
            record["indexed_timestamp"] = stamp
        assert section.add_if_needed(filename, encode_json(record))
    other = V3Section()
    other.add_same_as(section, "z-1-0.conda")
    assert other.revision() == {"n_packages": 1, "oldest": 30, "newest": 30}
    assert section.revision() == {"n_packages": 3, "oldest": 10, "newest": 30}
    member = json.loads(b"{" + section.encoded() + b"}")["v3"]
    assert list(member) == ["conda", "tar.bz2"]
    assert list(member["conda"]) == ["b-1-0", "z-1-0"]
    assert member["tar.bz2"]["a-1-0"] == {"flags": ["x"], "indexed_timestamp": 10, "name": "a"}
