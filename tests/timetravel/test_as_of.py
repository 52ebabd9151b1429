"""As-of rendering without a server: at "now" it gives the live channel's records, whatever
the kind of patch source (stored bytes joined for static instructions, decoded for YAML)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockyard.catalog import Catalog, now_ms, sqlite_url
from stockyard.index.run import IndexOptions, index_channel
from stockyard.timetravel import AsOfView, parse_as_of, render_as_of
from stockyard.types.errors import InvalidIdentifier
from tests.index.conftest import build_artifact

INSTRUCTIONS = {
    "linux-64": {
        "patch_instructions_version": 1,
        "packages.conda": {"beta-1.0-0.conda": {"depends": ["patched-dep"]}},
        "packages": {"old-1.0-0.tar.bz2": {"license": "MIT"}},
        "revoke": ["gamma-1.0-0.conda"],
        "remove": ["delta-1.0-0.conda"],
    }
}
YAML = "if:\n  name: beta\nthen:\n  - add_depends: from-yaml\n"


@pytest.mark.parametrize("kind", ["none", "json", "yaml"])
def test_as_of_now_equals_the_live_channel(tmp_path: Path, kind: str) -> None:
    channel = tmp_path / "chan"
    for name, fmt in (
        ("beta", "conda"),
        ("gamma", "conda"),
        ("delta", "conda"),
        ("old", "tar.bz2"),
    ):
        build_artifact(channel, "linux-64", name, fmt=fmt, depends=["python"])
    source = ""
    if kind == "json":
        source = str(tmp_path / "patches.json")
        Path(source).write_text(json.dumps(INSTRUCTIONS))
    elif kind == "yaml":
        source = str(tmp_path / "patches.yaml")
        Path(source).write_text(YAML)
    index_channel(channel, IndexOptions(patch_source=source))
    catalog = Catalog.open(sqlite_url(channel / ".stockyard" / "catalog.db"))
    try:
        view = AsOfView(catalog.require_channel("chan"), channel, now_ms())
        rendered = json.loads(render_as_of(catalog, view, "linux-64").read_bytes())
    finally:
        catalog.close()
    live = json.loads((channel / "linux-64" / "repodata.json").read_text())
    for key in ("packages", "packages.conda", "removed"):
        assert rendered[key] == live[key], key
    if kind == "json":
        assert rendered["packages.conda"]["gamma-1.0-0.conda"]["revoked"] is True
        assert "delta-1.0-0.conda" in rendered["removed"]


def test_parse_as_of() -> None:
    assert parse_as_of("2026-01-01T00:00:00Z") == 1767225600000
    assert parse_as_of("2026-01-01T00:00:00.5+00:00") == 1767225600500
    for bad in ("2026-01-01", "2026-02-30T00:00:00Z", "-5", "1e9", "2999-01-01T00:00:00Z"):
        with pytest.raises(InvalidIdentifier):
            parse_as_of(bad)
