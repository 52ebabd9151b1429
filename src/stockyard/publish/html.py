"""Static `index.html` listings, for people browsing a channel served as plain files."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse}td,th{padding:.2rem .8rem;text-align:left}"
    "tr:nth-child(even){background:#f4f4f4}code{font-size:.85em}"
)


def _page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    ).encode()


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


#: Above this many artifacts a subdir's index.html names only the repodata files: a listing of
#: hundreds of thousands of rows is tens of megabytes nobody browses, rewritten on every change.
MAX_LISTED = 100_000


def render_subdir_index(
    channel: str, subdir: str, artifacts: Sequence[tuple[str, int, int, str]]
) -> bytes:
    """A table of (filename, size, indexed_timestamp ms, sha256) rows.

    Filenames are CEP 26 artifact names (letters, digits, `._+!-`), so they need no escaping.
    """
    days: dict[int, str] = {}  # one date string per day, not per artifact

    def day(stamp: int) -> str:
        key = stamp // 86_400_000
        if key not in days:
            days[key] = time.strftime("%Y-%m-%d", time.gmtime(key * 86_400))
        return days[key]

    files = (
        '<p><a href="repodata.json">repodata.json</a> · '
        '<a href="repodata.json.zst">repodata.json.zst</a> · '
        '<a href="repodata_shards.msgpack.zst">repodata_shards.msgpack.zst</a></p>'
    )
    if len(artifacts) > MAX_LISTED:
        note = (
            f"<p>{len(artifacts):,} artifacts: too many to list here. "
            "Every one of them is in repodata.json.</p>"
        )
        return _page(f"{channel}/{subdir}", files + note)
    rows = [
        f'<tr><td><a href="{filename}">{filename}</a></td><td>{size:,}</td>'
        f"<td>{day(stamp) if stamp else ''}</td><td><code>{sha256}</code></td></tr>"
        for filename, size, stamp, sha256 in artifacts
    ]
    table = (
        "<table><tr><th>File</th><th>Bytes</th><th>Indexed (UTC)</th><th>SHA-256</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return _page(f"{channel}/{subdir}", files + table)


def render_channel_index(
    channel: str, subdirs: Iterable[str], packages: Iterable[tuple[str, str, str]]
) -> bytes:
    """The channel root: its subdirs and one line per package (name, version, summary)."""
    subdir_links = " · ".join(f'<a href="{html.escape(s)}/">{html.escape(s)}</a>' for s in subdirs)
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td><td>{html.escape(s)}</td></tr>"
        for n, v, s in packages
    )
    body = (
        f"<p>Subdirs: {subdir_links}</p>"
        '<p><a href="channeldata.json">channeldata.json</a></p>'
        "<table><tr><th>Package</th><th>Latest version</th><th>Summary</th></tr>"
        f"{rows}</table>"
    )
    return _page(channel, body)
