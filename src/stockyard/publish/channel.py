"""Channel-level files: `channeldata.json` (CEP 38) with its `.gz`, and the root `index.html`.

Each package name's channeldata entry is cached (encoded) in the catalog and recomputed only when
one of that name's artifacts changed; the document is then joined from the cached bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from stockyard.catalog import Catalog, Channel
from stockyard.publish import html
from stockyard.publish.gz import GZ_SUFFIX
from stockyard.publish.writer import Publisher
from stockyard.types.encoding import encode_json, join_json_object
from stockyard.types.repodata import CHANNELDATA_JSON

_decode = msgspec.json.Decoder().decode


def _maybe(data: bytes | None) -> Any:
    return _decode(data) if data is not None else None


#: Package names whose artifacts are decoded at once when refreshing channeldata entries (a
#: popular name has hundreds of artifacts across subdirs).
_CHUNK = 100


def refresh_channeldata_entries(catalog: Catalog, channel: Channel, names: Iterable[str]) -> None:
    """Recompute the cached entries of `names` from their artifacts in every subdir."""
    ordered = sorted(set(names))
    for start in range(0, len(ordered), _CHUNK):
        _refresh_chunk(catalog, channel, ordered[start : start + _CHUNK])


def _refresh_chunk(catalog: Catalog, channel: Channel, wanted: list[str]) -> None:
    from stockyard.publish.channeldata import ArtifactSummary, channeldata_entry

    by_name: dict[str, list[ArtifactSummary]] = {}
    for row in catalog.channel_names_summary(channel.id, wanted):
        if row.patch_removed:
            continue
        by_name.setdefault(row.name, []).append(
            ArtifactSummary(
                filename=row.filename,
                subdir=row.subdir,
                record=_decode(row.patched if row.patched is not None else row.record),
                about=_maybe(row.about),
                run_exports=_maybe(row.run_exports),
                icon_sha256=row.icon_sha256,
                path_flags=_maybe(row.path_flags),
            )
        )
    updates: dict[str, bytes | None] = {}
    for name in wanted:
        summaries = by_name.get(name)
        updates[name] = encode_json(channeldata_entry(name, summaries)) if summaries else None
    catalog.set_channeldata_entries(channel.id, updates)


def publish_channel_files(
    catalog: Catalog,
    publisher: Publisher,
    channel: Channel,
    subdirs: Iterable[str],
    *,
    write_html: bool = True,
    write_gz: bool = True,
) -> None:
    entries = catalog.channeldata_entries(channel.id)
    subdir_list = sorted(set(subdirs))
    document = (
        b'{"channeldata_version":1,"packages":'
        + join_json_object(sorted(entries.items()))
        + b',"subdirs":'
        + encode_json(subdir_list)
        + b"}"
    )
    if write_gz:  # before the document: a reader that sees it finds its .gz (publish/gz.py)
        publisher.write_gz_of(CHANNELDATA_JSON, document)
    else:
        publisher.remove(CHANNELDATA_JSON + GZ_SUFFIX)
    publisher.write(CHANNELDATA_JSON, document)
    if write_html:
        listing = []
        for name, entry in sorted(entries.items()):
            decoded = _decode(entry)
            listing.append((name, str(decoded.get("version") or ""), decoded.get("summary") or ""))
        publisher.write("index.html", html.render_channel_index(channel.name, subdir_list, listing))
    publisher.commit()
