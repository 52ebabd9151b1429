"""Synthesize realistic channels for tests and benchmarks.

Artifacts get real metadata (name, version, build, depends, license, timestamp... from the real
repodata in the repository's `tests/data`, see its README) and tiny payloads: a file or two, a
matching `info/paths.json`, an `about.json`, sometimes `run_exports.json`, activation scripts,
link scripts or prefix placeholders, so every field `read_artifact` derives is exercised. Output
is deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Iterable, Iterator
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final

import msgspec

from stockyard.package.create import write_artifact
from stockyard.types.encoding import zstd_decompress
from stockyard.types.errors import StockyardError
from stockyard.types.identifiers import (
    MAX_BUILD,
    SUBDIR_PATTERN,
    is_artifact_filename,
    parse_artifact_filename,
)
from stockyard.types.records import validate_index_json

#: Repodata fields describing the artifact file, not its contents: never in index.json.
_FILE_FIELDS: Final = frozenset(
    {"md5", "sha256", "size", "fn", "url", "legacy_bz2_md5", "legacy_bz2_size", "channel"}
)
PREFIX_PLACEHOLDER: Final = "/opt/anaconda1anaconda2anaconda3"
_PLAIN_NAME: Final = re.compile(r"[^/\\\x00-\x1f]+")
_SUBDIR: Final = re.compile(SUBDIR_PATTERN)
_encode = msgspec.json.Encoder(order="sorted").encode


#: The largest repodata document the loader decompresses (conda-forge's is about 250 MB).
_MAX_DOCUMENT_BYTES: Final = 1 << 30


def default_data_dir() -> Path:
    """$STOCKYARD_SHARED_DATA, else the repository's `tests/data` (see its README)."""
    env = os.environ.get("STOCKYARD_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "tests" / "data"


def repodata_files(data_dir: Path | None = None) -> list[Path]:
    """`<data_dir>/repodata/*.json` and `*.json.zst`, sorted by name."""
    directory = (data_dir or default_data_dir()) / "repodata"
    return sorted([*directory.glob("*.json"), *directory.glob("*.json.zst")])


def load_json_document(path: Path) -> Any:
    """A JSON document, zstd-compressed when its name ends in `.zst`."""
    raw = path.read_bytes()
    if path.name.endswith(".zst"):
        raw = zstd_decompress(raw, _MAX_DOCUMENT_BYTES)
    return json.loads(raw)


def load_shared_records(data_dir: Path | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(filename, record) for every record of `<data_dir>/repodata/*.json[.zst]`, in file order.

    Accepts both repodata documents (`packages`, `packages.conda`, `info.subdir`) and bare
    `{filename: record}` maps. Every record gets a `subdir`: its own, else the document's, else
    `noarch` when the record is noarch, else `linux-64`.
    """
    files = repodata_files(data_dir)
    if not files:
        directory = (data_dir or default_data_dir()) / "repodata"
        raise StockyardError(
            f"no repodata JSON files in {directory}",
            hint="Set STOCKYARD_SHARED_DATA to a directory holding repodata/*.json[.zst].",
        )
    out: list[tuple[str, dict[str, Any]]] = []
    for path in files:
        document = load_json_document(path)
        if "packages" in document or "packages.conda" in document:
            default_subdir = (document.get("info") or {}).get("subdir")
            groups = [document.get("packages") or {}, document.get("packages.conda") or {}]
        else:
            default_subdir = None
            groups = [document]
        for group in groups:
            for filename, record in group.items():
                if not isinstance(record, dict) or not is_artifact_filename(filename):
                    continue  # e.g. the `_url`, `_etag` cache keys of a saved repodata
                record = dict(record)
                if not record.get("subdir"):
                    record["subdir"] = default_subdir or (
                        "noarch" if record.get("noarch") else "linux-64"
                    )
                out.append((filename, record))
    return out


def _valid_index(record: dict[str, Any]) -> dict[str, Any] | None:
    index = {k: v for k, v in record.items() if k not in _FILE_FIELDS}
    try:
        validate_index_json(index)
        parse_artifact_filename(f"{index['name']}-{index['version']}-{index['build']}.conda")
    except (msgspec.ValidationError, StockyardError, KeyError):
        return None
    return index


def _variants(
    records: list[tuple[dict[str, Any], int]], count: int
) -> Iterator[tuple[dict[str, Any], int]]:
    """`count` (index.json, real size) with unique (subdir, name-version-build): the records
    round-robin, later rounds bumping build_number and suffixing the build string."""
    seen: set[tuple[str, str]] = set()
    produced = 0
    round_no = 0
    while produced < count:
        for base, size in records:
            if produced >= count:
                return
            index = dict(base)
            if round_no:
                suffix = f"_{round_no}"
                index["build"] = base["build"][: MAX_BUILD - len(suffix)] + suffix
                index["build_number"] = base.get("build_number", 0) + round_no
            key = (index["subdir"], f"{index['name']}-{index['version']}-{index['build']}")
            if key in seen:
                continue
            seen.add(key)
            produced += 1
            yield index, size
        round_no += 1


def _members(index: dict[str, Any], rng: random.Random, blob_bytes: int) -> dict[str, bytes]:
    """A tiny payload (plus `blob_bytes` of incompressible data) and its info/ files."""
    name, version = index["name"], index["version"]
    files: dict[str, tuple[bytes, str | None, str | None]] = {}  # path -> (data, placeholder, mode)
    body = f"{name} {version} {index['build']}\n".encode() + rng.randbytes(rng.randint(16, 400))
    if index.get("noarch") == "python":
        files[f"site-packages/{name.replace('-', '_')}/__init__.py"] = (
            body.hex().encode(),
            None,
            None,
        )
    else:
        files[f"share/{name}/data.bin"] = (body, None, None)
    if blob_bytes:
        files[f"share/{name}/blob.bin"] = (rng.randbytes(blob_bytes), None, None)
    if rng.random() < 0.25:
        script = f"#!{PREFIX_PLACEHOLDER}/bin/sh\necho {name}\n".encode()
        files[f"bin/{name}"] = (script, PREFIX_PLACEHOLDER, "text")
    if rng.random() < 0.07:
        lib = b"\x7fELF" + PREFIX_PLACEHOLDER.encode() + b"\0" + rng.randbytes(64)
        files[f"lib/lib{name}.so"] = (lib, PREFIX_PLACEHOLDER, "binary")
    if rng.random() < 0.1:
        files[f"etc/conda/activate.d/{name}.sh"] = (b"export X=1\n", None, None)
        files[f"etc/conda/deactivate.d/{name}.sh"] = (b"unset X\n", None, None)
    if rng.random() < 0.05:
        files[f"bin/.{name}-post-link.sh"] = (b"echo linked\n", None, None)
    paths = []
    for path, (data, placeholder, mode) in sorted(files.items()):
        entry: dict[str, Any] = {
            "_path": path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_in_bytes": len(data),
        }
        if placeholder:
            entry["prefix_placeholder"] = placeholder
            entry["file_mode"] = mode
        paths.append(entry)
    about = {
        "summary": f"{name}, synthesized for Stockyard tests",
        "license": index.get("license") or "BSD-3-Clause",
        "home": f"https://example.org/{name}",
    }
    members = {path: data for path, (data, _, _) in files.items()}
    members["info/index.json"] = json.dumps(index, indent=2, sort_keys=True).encode()
    members["info/about.json"] = json.dumps(about, indent=2, sort_keys=True).encode()
    members["info/paths.json"] = _encode({"paths": paths, "paths_version": 1})
    members["info/files"] = "".join(p + "\n" for p in sorted(files)).encode()
    if rng.random() < 0.3:
        members["info/run_exports.json"] = _encode({"weak": [f"{name} >={version}"]})
    if index.get("noarch") == "python":
        members["info/link.json"] = _encode(
            {"noarch": {"type": "python"}, "package_metadata_version": 1}
        )
    if rng.random() < 0.2:
        members["info/recipe/meta.yaml"] = (
            f"package:\n  name: {name}\n  version: {version}\n".encode()
        )
    return members


Job = tuple[str, dict[str, Any], int, int]  # destination, index.json, seed, blob bytes


def _write_batch(batch: list[Job]) -> None:
    for dest, index, seed, blob_bytes in batch:
        rng = random.Random(seed)
        members = _members(index, rng, blob_bytes)
        write_artifact(dest, members, zstd_level=3, bz2_level=9, fsync=False)


def _write_fast_batch(batch: list[Job]) -> None:
    """`_write_batch` with the fastest compression levels (many artifacts, small payloads)."""
    for dest, index, seed, blob_bytes in batch:
        members = _members(index, random.Random(seed), blob_bytes)
        write_artifact(dest, members, zstd_level=1, bz2_level=1, fsync=False)


def _batches(jobs: list[Job], size: int) -> Iterable[list[Job]]:
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def synthesize_channel(
    dest: Path,
    count: int,
    *,
    bz2_fraction: float = 0.2,
    seed: int = 0,
    processes: int = 2,
    data_dir: Path | None = None,
    real_sizes: bool = False,
    max_payload_bytes: int = 4 << 20,
) -> list[Path]:
    """Write `count` artifacts into `<dest>/<subdir>/` and return their paths.

    Index.json comes from the shared records (file fields dropped; records that do not validate
    are skipped), reused round-robin with bumped builds when `count` exceeds them. Every
    `1/bz2_fraction`-th artifact, evenly spread, is a `.tar.bz2`; the rest are `.conda`.
    `noarch/` always exists. The same arguments give the same files.

    With `real_sizes`, each artifact also carries incompressible data of about the size the record
    says the original artifact had (at most `max_payload_bytes`), for benchmarks where hashing
    real-sized files matters.
    """
    rng = random.Random(seed)
    records = [
        (index, int(rec.get("size") or 0))
        for _, rec in load_shared_records(data_dir)
        if (index := _valid_index(rec))
    ]
    rng.shuffle(records)
    dest = Path(dest)
    (dest / "noarch").mkdir(parents=True, exist_ok=True)
    jobs: list[Job] = []
    paths: list[Path] = []
    for i, (index, real_size) in enumerate(_variants(records, count)):
        is_bz2 = int((i + 1) * bz2_fraction) > int(i * bz2_fraction)
        ext = "tar.bz2" if is_bz2 else "conda"
        subdir_dir = dest / index["subdir"]
        path = subdir_dir / f"{index['name']}-{index['version']}-{index['build']}.{ext}"
        paths.append(path)
        blob = min(real_size, max_payload_bytes) if real_sizes else 0
        jobs.append((str(path), index, rng.getrandbits(64), blob))
    for subdir in {Path(job[0]).parent for job in jobs}:
        subdir.mkdir(parents=True, exist_ok=True)
    batch = 200 if not real_sizes else 10
    if processes > 1 and len(jobs) > batch:
        with get_context("spawn" if os.name == "nt" else "fork").Pool(processes) as pool:
            for _ in pool.imap_unordered(_write_batch, _batches(jobs, batch)):
                pass
    else:
        _write_batch(jobs)
    return paths


def synthesize_records(
    dest: Path,
    records: Iterable[tuple[str, dict[str, Any]]],
    *,
    seed: int = 0,
    processes: int = 2,
) -> list[Path]:
    """One artifact per `(filename, record)`, written to `<dest>/<record's subdir>/<filename>`.

    Unlike `synthesize_channel`, nothing is validated: index.json is the record as it is (file
    fields dropped), so every legacy shape real channels carry reaches the indexer. A record
    whose filename or subdir cannot name a file is left out; a (subdir, filename) seen twice is
    written once. Returns the paths written, in record order.
    """
    rng = random.Random(seed)
    dest = Path(dest)
    (dest / "noarch").mkdir(parents=True, exist_ok=True)
    jobs: list[Job] = []
    seen: set[Path] = set()
    for filename, record in records:
        subdir = record.get("subdir")
        if not (is_artifact_filename(filename) and _PLAIN_NAME.fullmatch(filename)):
            continue
        if not (isinstance(subdir, str) and _SUBDIR.fullmatch(subdir)):
            continue
        path = dest / subdir / filename
        if path in seen:
            continue
        seen.add(path)
        index = {k: v for k, v in record.items() if k not in _FILE_FIELDS}
        jobs.append((str(path), index, rng.getrandbits(64), 0))
    for directory in {Path(job[0]).parent for job in jobs}:
        directory.mkdir(parents=True, exist_ok=True)
    if processes > 1 and len(jobs) > 200:
        with get_context("spawn" if os.name == "nt" else "fork").Pool(processes) as pool:
            for _ in pool.imap_unordered(_write_fast_batch, _batches(jobs, 200)):
                pass
    else:
        _write_fast_batch(jobs)
    return [Path(job[0]) for job in jobs]
