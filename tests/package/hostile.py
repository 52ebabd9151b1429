"""Hostile artifacts whose metadata reads fine but whose payload is dangerous or inconsistent.

Each builder writes `demo-1.2.3-py_0.<ext>` (valid `info/`, so `read_artifact` accepts it) into a
directory. `verify_artifact`, and so every upload, must refuse all of them. Shared by the package
tests and the live-server hostile-upload suite (tests/integration/test_serve_hostile.py).
"""

from __future__ import annotations

import bz2
import hashlib
import json
import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import zstandard

from .builders import (
    STEM,
    TarItem,
    file_item,
    info_members,
    items_from,
    link_item,
    make_conda,
    make_tar,
    make_tar_bz2,
    special_item,
    zstd,
)

Builder = Callable[[Path], Path]

#: The payload every hostile .conda starts from: what builders.info_members' paths.json lists.
PAYLOAD: list[TarItem] = [
    file_item("site-packages/demo/__init__.py", b"print('hello')\n"),
    file_item("bin/demo", b"#!/bin/sh\n"),
]


def _conda(directory: Path, extra: list[TarItem], info: dict[str, bytes] | None = None) -> Path:
    members = info if info is not None else info_members()
    return make_conda(
        directory / f"{STEM}.conda", make_tar(items_from(members)), make_tar([*PAYLOAD, *extra])
    )


def _hardlink(name: str, target: str) -> TarItem:
    return link_item(name, target, tarfile.LNKTYPE)


def dotdot_member(directory: Path) -> Path:
    return _conda(directory, [file_item("../../evil.txt", b"x")])


def absolute_member(directory: Path) -> Path:
    return _conda(directory, [file_item("/tmp/stockyard-evil.txt", b"x")])


def absolute_symlink(directory: Path) -> Path:
    return _conda(directory, [link_item("lib/escape", "/etc")])


def escaping_symlink(directory: Path) -> Path:
    return _conda(directory, [link_item("lib/escape", "../../evil")])


def symlink_chain(directory: Path) -> Path:
    # Each link looks harmless alone: b -> "." and up -> "b/.." (lexically "."), but extracted,
    # "up" resolves to the parent of the package.
    return _conda(directory, [link_item("b", "."), link_item("up", "b/..")])


def write_through_symlink(directory: Path) -> Path:
    return _conda(directory, [link_item("lib/dir", "."), file_item("lib/dir/evil", b"x")])


def hardlink_outside(directory: Path) -> Path:
    return _conda(directory, [_hardlink("lib/h", "../../etc/passwd")])


def hardlink_absolute(directory: Path) -> Path:
    return _conda(directory, [_hardlink("lib/h", "/etc/passwd")])


def hardlink_to_nothing(directory: Path) -> Path:
    return _conda(directory, [_hardlink("lib/h", "lib/nothing")])


def char_device(directory: Path) -> Path:
    return _conda(directory, [special_item("lib/null", tarfile.CHRTYPE)])


def block_device(directory: Path) -> Path:
    return _conda(directory, [special_item("lib/sda", tarfile.BLKTYPE)])


def fifo(directory: Path) -> Path:
    return _conda(directory, [special_item("lib/fifo", tarfile.FIFOTYPE)])


def missing_payload(directory: Path) -> Path:
    path = directory / f"{STEM}.conda"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", b'{"conda_pkg_format_version": 2}')
        zf.writestr(f"info-{STEM}.tar.zst", zstd(make_tar(items_from(info_members()))))
    return path


def payload_not_zstd(directory: Path) -> Path:
    path = directory / f"{STEM}.conda"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", b'{"conda_pkg_format_version": 2}')
        zf.writestr(f"pkg-{STEM}.tar.zst", bz2.compress(make_tar(PAYLOAD)))
        zf.writestr(f"info-{STEM}.tar.zst", zstd(make_tar(items_from(info_members()))))
    return path


def members_of_another_package(directory: Path) -> Path:
    """index.json agrees with the filename, but the inner tarballs are named for another
    package: conda opens `info-<stem>.tar.zst` by name and finds nothing (or something else)."""
    return make_conda(
        directory / f"{STEM}.conda",
        make_tar(items_from(info_members())),
        make_tar(PAYLOAD),
        stem="other-9.9-0",
    )


def info_in_payload(directory: Path) -> Path:
    """A second info/index.json in the payload tarball: installed, it would replace the one
    that was indexed."""
    index = json.loads(info_members()["info/index.json"])
    index["depends"] = []
    return _conda(directory, [file_item("info/index.json", json.dumps(index).encode())])


def payload_in_info(directory: Path) -> Path:
    members = {**info_members(), "bin/sneaky": b"#!/bin/sh\n"}
    return _conda(directory, [], info=members)


def unsafe_paths_json(directory: Path) -> Path:
    members = info_members()
    paths = json.loads(members["info/paths.json"])
    paths["paths"].append({"_path": "../../etc/cron.d", "path_type": "directory"})
    members["info/paths.json"] = json.dumps(paths).encode()
    return _conda(directory, [], info=members)


def _zero_tar_stream(size: int, chunk: int = 1 << 24) -> list[bytes]:
    """A tar holding one file of `size` zero bytes, in pieces (never all in memory)."""
    info = tarfile.TarInfo("share/zeros.bin")
    info.size = size
    header = info.tobuf(tarfile.PAX_FORMAT)
    pieces = [header]
    left = size
    while left:
        pieces.append(bytes(min(chunk, left)))
        left -= len(pieces[-1])
    pieces.append(bytes(-size % 512))
    return pieces


def zstd_bomb_payload(directory: Path, size: int = 1 << 30) -> Path:
    """A payload of `size` zero bytes (1 GiB) in a few tens of kB of zstd."""
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    out = bytearray()
    for piece in _zero_tar_stream(size):
        out += compressor.compress(piece)
    out += compressor.compress(make_tar(PAYLOAD))  # ends the archive with real members
    out += compressor.flush()
    path = directory / f"{STEM}.conda"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", b'{"conda_pkg_format_version": 2}')
        zf.writestr(f"pkg-{STEM}.tar.zst", bytes(out))
        zf.writestr(f"info-{STEM}.tar.zst", zstd(make_tar(items_from(info_members()))))
    return path


def bz2_bomb_info_last(directory: Path, size: int = 2 << 30) -> Path:
    """The 1.8 kB kind: `size` (2 GiB) zero bytes of payload, then info/, as concatenated
    bzip2 streams (one 16 MiB zero stream repeated), so a reader must decompress the whole
    payload to find the metadata."""
    zeros = bz2.compress(bytes(1 << 24), 9)
    count, rest = divmod(size, 1 << 24)
    info = tarfile.TarInfo("share/zeros.bin")
    info.size = size
    tail = bytes(-size % 512) + make_tar(items_from(info_members()))
    data = (
        bz2.compress(info.tobuf(tarfile.PAX_FORMAT))
        + zeros * count
        + (bz2.compress(bytes(rest)) if rest else b"")
        + bz2.compress(tail)
    )
    path = directory / f"{STEM}.tar.bz2"
    path.write_bytes(data)
    return path


def tar_bz2_cut_in_half(directory: Path) -> Path:
    """info/ first, then 3 MB of incompressible payload (several bzip2 blocks), cut in half:
    the metadata still reads, the payload is gone."""
    noise = hashlib.shake_256(b"stockyard").digest(3 << 20)
    items = [*items_from(info_members()), *PAYLOAD, file_item("share/noise.bin", noise)]
    path = make_tar_bz2(directory / f"{STEM}.tar.bz2", make_tar(items))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def duplicate_index_after_payload(directory: Path) -> Path:
    """info/ first, then the payload, then another info/index.json: a reader stops before it,
    extraction would keep it."""
    index = json.loads(info_members()["info/index.json"])
    index["depends"] = ["evil"]
    items = [
        *items_from(info_members()),
        *PAYLOAD,
        file_item("info/index.json", json.dumps(index).encode()),
    ]
    return make_tar_bz2(directory / f"{STEM}.tar.bz2", make_tar(items))


def info_after_payload(directory: Path) -> Path:
    """info/ first, then the payload, then paths.json: a reader stops before it, so the
    indexed path flags would not describe what is installed."""
    members = info_members()
    paths_json = members.pop("info/paths.json")
    items = [*items_from(members), *PAYLOAD, file_item("info/paths.json", paths_json)]
    return make_tar_bz2(directory / f"{STEM}.tar.bz2", make_tar(items))


def tar_bz2_device(directory: Path) -> Path:
    items = [*items_from(info_members()), *PAYLOAD, special_item("dev/null", tarfile.CHRTYPE)]
    return make_tar_bz2(directory / f"{STEM}.tar.bz2", make_tar(items))


#: name -> (builder, a regex the verify problems must match)
HOSTILE: dict[str, tuple[Builder, str]] = {
    "member with ..": (dotdot_member, r"contains '\.\.'"),
    "absolute member": (absolute_member, "absolute path"),
    "absolute symlink": (absolute_symlink, "absolute path '/etc'"),
    "escaping symlink": (escaping_symlink, "points outside the package"),
    "symlink chain": (symlink_chain, "resolves outside the package"),
    "write through symlink": (write_through_symlink, "through a symbolic link"),
    "hard link outside": (hardlink_outside, r"hard link .*contains '\.\.'"),
    "absolute hard link": (hardlink_absolute, "hard link .*absolute path"),
    "hard link to nothing": (hardlink_to_nothing, "does not name a regular file"),
    "character device": (char_device, "device or fifo"),
    "block device": (block_device, "device or fifo"),
    "fifo": (fifo, "device or fifo"),
    "missing payload": (missing_payload, r"no pkg-.*\.tar\.zst"),
    "payload not zstd": (payload_not_zstd, "not zstd"),
    "members of another package": (members_of_another_package, "not for demo-1.2.3-py_0"),
    "info/ in the payload": (info_in_payload, "payload tarball holds 'info/index.json'"),
    "payload in info": (payload_in_info, "info tarball holds 'bin/sneaky'"),
    "unsafe paths.json": (unsafe_paths_json, r"paths\.json.*'\.\.'"),
    "zstd bomb in the payload": (zstd_bomb_payload, "limit"),
    "bz2 bomb, info last": (bz2_bomb_info_last, "limit"),
    "tar.bz2 cut in half": (tar_bz2_cut_in_half, "truncated"),
    "index.json twice": (duplicate_index_after_payload, "appears twice"),
    "info/ after the payload": (info_after_payload, "comes after payload members"),
    "tar.bz2 device": (tar_bz2_device, "device or fifo"),
}


def build(name: str, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = HOSTILE[name][0](directory)
    assert os.path.getsize(path) > 0
    return path
