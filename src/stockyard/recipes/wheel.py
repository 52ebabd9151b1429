"""A wheel's file list and `.dist-info` files, read from the end of the file by HTTP range.

A zip keeps its directory at the end, and wheel builders write `.dist-info/` last, so one
ranged read of the tail usually holds the names of every file (for import tests, compiled
parts, license files) and the small dist-info files (`entry_points.txt`, `top_level.txt`). The
zip reader copes with the missing head because the central directory records sizes and
offsets, which are shifted by the bytes we did not fetch.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

from stockyard.recipes.errors import UpstreamError
from stockyard.recipes.pypi import DistFile, PyPIClient

TAIL_BYTES = 64 << 10
#: The most we fetch to reach the dist-info files of a wheel that stores them early.
MAX_TAIL_BYTES = 8 << 20
_WANTED = ("entry_points.txt", "top_level.txt")


def _wanted(filename: str, names: tuple[str, ...]) -> bool:
    """Small dist-info files we read: the named ones and license texts."""
    if ".dist-info/" not in filename:
        return False
    inside = filename.split(".dist-info/", 1)[1]
    leaf = inside.rsplit("/", 1)[-1].lower()
    return inside in names or inside.startswith("licenses/") or leaf.startswith(_LICENSE_STEMS)


_LICENSE_STEMS = ("license", "licence", "copying")


@dataclass
class WheelContents:
    names: list[str]
    dist_info: dict[str, str] = field(default_factory=dict)


def _open(data: bytes, filename: str, complete: bool) -> zipfile.ZipFile | None:
    """The zip directory in `data`; None when the tail is too short to hold all of it."""
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        if complete:
            raise UpstreamError(f"{filename}: cannot read the zip directory: {exc}") from exc
        return None


def _directory_length(data: bytes) -> int:
    """How many tail bytes hold the central directory, from the end-of-directory record."""
    end = data.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(data):
        return 2 * len(data)
    size = int.from_bytes(data[end + 12 : end + 16], "little")
    return size + (len(data) - end) + 4096 if size != 0xFFFFFFFF else 2 * len(data)


def read_wheel(client: PyPIClient, wheel: DistFile, also: tuple[str, ...] = ()) -> WheelContents:
    """Every member name and the wanted dist-info files of a wheel (plus `also`)."""
    wanted_names = (*_WANTED, *also)
    length = TAIL_BYTES
    while True:
        data = client.tail(wheel.url, wheel.size, length)
        complete = len(data) >= wheel.size or length >= MAX_TAIL_BYTES
        opened = _open(data, wheel.filename, complete)
        if opened is None:
            # A big wheel (numpy) has a central directory longer than the first tail.
            length = min(max(_directory_length(data), 2 * length), MAX_TAIL_BYTES)
            continue
        archive = opened
        wanted = [info for info in archive.infolist() if _wanted(info.filename, wanted_names)]
        missing = [info for info in wanted if info.header_offset < 0]
        if not missing or len(data) >= wheel.size:
            break
        needed = len(data) - min(info.header_offset for info in missing)
        if needed > MAX_TAIL_BYTES:
            wanted = [info for info in wanted if info.header_offset >= 0]
            break
        length = needed + 4096
    contents = WheelContents(names=archive.namelist())
    for info in wanted:
        if info.header_offset >= 0:
            name = info.filename.split(".dist-info/", 1)[1]
            contents.dist_info[name] = archive.read(info).decode("utf-8", "replace")
    return contents
