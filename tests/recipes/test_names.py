from __future__ import annotations

import json
from importlib import resources

from stockyard.cli.main import main
from stockyard.recipes.names import conda_name, map_name, mapping_table, normalize


def test_pep503_normalization() -> None:
    assert normalize("Foo.Bar_baz--qux") == "foo-bar-baz-qux"
    assert conda_name("Markdown_It.Py") == "markdown-it-py"


def test_table_entries() -> None:
    assert conda_name("torch") == "pytorch"
    assert conda_name("typing_extensions") == "typing_extensions"
    assert conda_name("Typing-Extensions") == "typing_extensions"
    assert conda_name("msgpack") == "msgpack-python"
    assert map_name("requests").from_table is False


def test_table_is_documented_and_normalized() -> None:
    text = resources.files("stockyard.recipes").joinpath("data/pypi_to_conda.json").read_text()
    document = json.loads(text)
    assert {"version", "updated", "source", "license", "mapping"} <= set(document)
    keys = list(document["mapping"])
    assert keys == sorted(keys)
    assert all(normalize(key) == key for key in keys)
    # An entry equal to its normalized key would be dead weight.
    assert all(value != key for key, value in document["mapping"].items())
    assert mapping_table().version == document["version"]


def test_map_command(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["recipe", "map", "torch", "rich", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [m["conda_name"] for m in document["mappings"]] == ["pytorch", "rich"]
    assert document["mappings"][0]["rule"] == "mapping table"
