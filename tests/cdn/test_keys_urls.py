"""What a publish changed, as a CDN sees it: absolute URLs and surrogate keys."""

from __future__ import annotations

import pytest

from stockyard.cdn.keys import (
    is_document,
    keys_of_file,
    purge_keys,
    served_channel,
    surrogate_key_header,
)
from stockyard.cdn.urls import purge_list, urls_for
from stockyard.storage.base import InvalidKey

SHARD = "linux-64/shards/" + "ab" * 32 + ".msgpack.zst"


@pytest.mark.parametrize(
    ("channel", "key", "header"),
    [
        ("main", "linux-64/repodata.json", "main main/linux-64"),
        ("main", "noarch/repodata.json.gz", "main main/noarch"),
        ("main", "noarch/repodata_shards.msgpack.zst", "main main/noarch"),
        ("main", "noarch/index.html", "main main/noarch"),
        ("main", "channeldata.json", "main main/root"),
        ("main", "index.html", "main main/root"),
        ("main", "noarch/alpha-1.0-0.conda", "main/files"),
        ("main", "linux-64/beta-2.0-h1_0.tar.bz2", "main/files"),
        ("main", "noarch/alpha-1.0-0.conda.v0.sigs", "main/files"),
        ("main", SHARD, "main/files"),
        ("main", "icons/" + "cd" * 32 + ".png", "main/files"),
        ("main", "snapshots/s1/noarch/repodata.json", "main/files"),
        ("main", "as-of/2024-01-01/noarch/repodata.json", "main"),
        # A label's files are requested under its channel's path but are the label's own.
        ("main", "label/rc/linux-64/repodata.json", "main/label/rc main/label/rc/linux-64"),
        ("main", "label/rc/channeldata.json", "main/label/rc main/label/rc/root"),
        ("main", "label/rc/noarch/x-1-0.conda", "main/label/rc/files"),
        ("main/label/rc", "noarch/repodata.json", "main/label/rc main/label/rc/noarch"),
    ],
)
def test_surrogate_key_header(channel: str, key: str, header: str) -> None:
    assert surrogate_key_header(channel, key) == header


def test_documents_are_what_publishes_rewrite() -> None:
    assert is_document("noarch/repodata.json")
    assert is_document("linux-64/shards/not-a-hash.msgpack.zst")  # not content-addressed
    assert not is_document(SHARD)
    assert not is_document("noarch/x-1-0.tar.bz2")
    assert served_channel("main", "label/rc") == ("main", "label/rc")  # no file inside
    assert keys_of_file("main", "noarch/repodata.json") == ["main", "main/noarch"]


def test_purge_keys_never_name_the_whole_channel_or_its_artifacts() -> None:
    changed = [
        "channeldata.json",
        "channeldata.json.gz",
        "linux-64/repodata.json",
        "linux-64/repodata.json.gz",
        SHARD,
        "linux-64/new-1.0-0.conda",
        "noarch/repodata.json",
    ]
    assert purge_keys("main", changed) == ["main/linux-64", "main/noarch", "main/root"]
    assert purge_keys("main", ["linux-64/new-1.0-0.conda", SHARD]) == []


def test_urls_are_absolute_and_list_index_directories() -> None:
    urls = urls_for(
        "https://conda.example.com/",
        "main/label/rc",
        ["index.html", "noarch/index.html", "noarch/repodata.json", "noarch/x-1.0+cpu-0.conda"],
    )
    assert urls == [
        "https://conda.example.com/main/label/rc/",
        "https://conda.example.com/main/label/rc/index.html",
        "https://conda.example.com/main/label/rc/noarch/",
        "https://conda.example.com/main/label/rc/noarch/index.html",
        "https://conda.example.com/main/label/rc/noarch/repodata.json",
        # Storage keys only hold characters a URL path takes as they are.
        "https://conda.example.com/main/label/rc/noarch/x-1.0+cpu-0.conda",
    ]


def test_urls_refuse_keys_that_are_not_storage_keys() -> None:
    with pytest.raises(InvalidKey):
        urls_for("https://x", "main", ["../catalog.db"])


def test_purge_list_payload() -> None:
    purge = purge_list(
        "http://127.0.0.1:8000", "main", ["noarch/repodata.json", "noarch/repodata.json"], 7
    )
    assert purge.payload() == {
        "channel": "main",
        "urls": ["http://127.0.0.1:8000/main/noarch/repodata.json"],
        "surrogate_keys": ["main/noarch"],
        "revision": 7,
    }
