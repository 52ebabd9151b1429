"""conda-content-trust signing benchmark: the one-change publish of a signed channel against the
same publish of an unsigned one, through the real commit path.

Two channels get the same N records (default 400,000, one subdir, linux-64) from the real
metadata in tests/data, multiplied into distinct records (`benchmarks/scale_fill.py`), in a
SQLite catalog each, published by `ChannelCommit` with the default policy (shards, .zst, .gz,
index.html). One of them is then set up for signing (`stockyard trust init`: keys, then every
record signed). Then, in this process:

- first_publish: the whole subdir published, unsigned;
- sign_all: `trust init` + signing every record (cold cache);
- one_change: `--rounds` times, one artifact added to each channel and committed (as an upload
  does): seconds of the commit, median per channel, and the ratio signed / unsigned;
- no_change: a commit with nothing to do on the signed channel;
- verify (unless --skip-verify): our verifier over the signed subdir;
- cct (with --cct): conda-content-trust's own `serialize_and_sign` on the first --cct-records
  records, in its own venv (tests/trust/cct_env.py builds it), compared with our signatures.

The load average is printed with the results: the machine is shared. Prints one JSON document.
Usage:

    .venv/bin/python benchmarks/trust.py [--records 400000] [--rounds 3] [--cct] [--skip-verify]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_fill import fill_rows  # noqa: E402
from stockyard.catalog import ArtifactRow, Catalog, SubdirChanges, sqlite_url  # noqa: E402
from stockyard.index.commit import ChangeSet, ChannelCommit  # noqa: E402
from stockyard.index.workspace import ChannelWorkspace  # noqa: E402
from stockyard.storage import LocalStore  # noqa: E402
from stockyard.trust.ceremony import init_channel  # noqa: E402
from stockyard.trust.keystore import PASSPHRASE_ENV  # noqa: E402
from stockyard.trust.sign import load_channel_signer, sign_channel  # noqa: E402
from stockyard.trust.verify import verify_channel  # noqa: E402
from stockyard.types.encoding import encode_json  # noqa: E402

PASSPHRASE = "benchmark passphrase, not a secret"
CHANNEL = "main"
SUBDIR = "linux-64"


class BenchChannel:
    """One channel directory with its own SQLite catalog, committed to like an upload does."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        state = directory / ".stockyard"
        state.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog.open(sqlite_url(state / "catalog.db"))
        self.channel = self.catalog.ensure_channel(CHANNEL)
        self.store = LocalStore(directory)
        self.workspace = ChannelWorkspace(directory)
        self.cpu = 0.0

    def commit(self, changes: ChangeSet) -> float:
        """Wall seconds of the commit; its CPU seconds (this process) go to `self.cpu`."""
        started, cpu = time.perf_counter(), time.process_time()
        with self.workspace.lock():
            commit = ChannelCommit.open(self.catalog, self.store, self.channel, self.workspace)
            commit.commit(changes)
        self.cpu = time.process_time() - cpu
        return time.perf_counter() - started

    def close(self) -> None:
        self.catalog.close()


def added_row(number: int) -> ArtifactRow:
    """A new artifact (origin "mirror": its file need not exist), as an upload would add."""
    filename = f"zzz-bench-{number}-1.0-h0_0.conda"
    digest = hashlib.sha256(filename.encode()).hexdigest()
    record = {
        "build": "h0_0",
        "build_number": 0,
        "depends": ["python >=3.8"],
        "md5": digest[:32],
        "name": f"zzz-bench-{number}",
        "sha256": digest,
        "size": 1000 + number,
        "subdir": SUBDIR,
        "version": "1.0",
    }
    return ArtifactRow(
        subdir=SUBDIR,
        filename=filename,
        name=record["name"],
        version="1.0",
        build="h0_0",
        size=record["size"],
        mtime_ns=0,
        sha256=digest,
        md5=digest[:32],
        record=encode_json(record),
        run_exports=None,
        indexed_timestamp=1800000000000 + number,
        origin="mirror",
    )


def one_change(channel: BenchChannel, number: int) -> float:
    return channel.commit(ChangeSet(subdirs=[SubdirChanges(SUBDIR, upserts=[added_row(number)])]))


def run_cct(subdir_dir: Path, channel: Path, count: int) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from tests.trust.cct_env import cct_python, run_check

    python, why = cct_python()
    if python is None:
        return {"skipped": why}
    document = json.loads((subdir_dir / "repodata.json").read_bytes())
    subset = dict(list(document["packages.conda"].items())[:count])
    path = channel.parent / "cct-subset.json"
    path.write_bytes(encode_json({"packages.conda": subset}))
    key = load_channel_signer(channel).private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    result = run_check(python, "sign", key.hex(), str(path))
    ours = document["signatures"]
    same = all(
        ours[name][next(iter(ours[name]))]["signature"] == sig
        for name, sig in result["signatures"].items()
    )
    seconds = result["seconds"]
    return {
        "records": count,
        "seconds": round(seconds, 3),
        "records_per_s": round(count / seconds),
        "signatures_equal_ours": same,
    }


def compare_one_change(unsigned: BenchChannel, signed: BenchChannel, rounds: int) -> dict[str, Any]:
    """`rounds` one-change commits on each channel, alternating (so both see the same load):
    wall and CPU seconds, medians, and the signed / unsigned ratios."""
    wall: dict[str, list[float]] = {"unsigned": [], "signed": []}
    cpu: dict[str, list[float]] = {"unsigned": [], "signed": []}
    for round_ in range(1, rounds + 1):
        for kind, channel in (("unsigned", unsigned), ("signed", signed)):
            wall[kind].append(one_change(channel, round_))
            cpu[kind].append(channel.cpu)
    out: dict[str, Any] = {}
    for label, series in (("wall", wall), ("cpu", cpu)):
        medians = {kind: statistics.median(values) for kind, values in series.items()}
        for kind, values in series.items():
            out[f"{kind}_{label}_s"] = [round(value, 3) for value in values]
            out[f"{kind}_{label}_median_s"] = round(medians[kind], 3)
        out[f"signed_over_unsigned_{label}"] = round(medians["signed"] / medians["unsigned"], 3)
    return out


def prepare(tmp: Path, records: int) -> tuple[BenchChannel, BenchChannel, dict[str, Any]]:
    """Both channels filled and published whole; the signed one set up and signed."""
    out: dict[str, Any] = {}
    unsigned = BenchChannel(tmp / "unsigned")
    started = time.perf_counter()
    fill_rows(unsigned.catalog, unsigned.channel.id, records, subdirs=((SUBDIR, 1.0),))
    out["fill_s"] = round(time.perf_counter() - started, 1)
    out["first_publish_s"] = round(unsigned.commit(ChangeSet()), 3)
    unsigned.close()
    # The same catalog and files for the other channel (a copy: filling twice takes minutes).
    shutil.copytree(tmp / "unsigned", tmp / "signed")
    unsigned, signed = BenchChannel(tmp / "unsigned"), BenchChannel(tmp / "signed")
    size = (unsigned.directory / SUBDIR / "repodata.json").stat().st_size
    out["repodata_mb"] = round(size / 1e6, 1)
    started = time.perf_counter()
    init_channel(signed.directory, tmp / "keys", PASSPHRASE.encode())
    results = sign_channel(signed.directory) or []
    seconds = time.perf_counter() - started
    count = sum(result.signed for result in results)
    out["sign_all"] = {
        "seconds": round(seconds, 3),
        "signed": count,
        "records_per_s": round(count / seconds),
    }
    size = (signed.directory / SUBDIR / "repodata.json").stat().st_size
    out["signed_repodata_mb"] = round(size / 1e6, 1)
    return unsigned, signed, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cct", action="store_true")
    parser.add_argument("--cct-records", type=int, default=20_000)
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    os.environ[PASSPHRASE_ENV] = PASSPHRASE
    out: dict[str, Any] = {"records": args.records, "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="stockyard-trust-bench-") as name:
        tmp = Path(name)
        unsigned, signed, prepared = prepare(tmp, args.records)
        out.update(prepared)
        # The first signed commit after `trust init` decrypts the key (once per process).
        one_change(signed, 0)
        out["one_change"] = compare_one_change(unsigned, signed, args.rounds)
        started = time.perf_counter()
        signed.commit(ChangeSet())
        out["no_change_signed_s"] = round(time.perf_counter() - started, 3)
        if not args.skip_verify:
            started = time.perf_counter()
            report = verify_channel(signed.directory, subdirs=[SUBDIR])
            seconds = time.perf_counter() - started
            out["verify"] = {
                "ok": report.ok,
                "seconds": round(seconds, 3),
                "records_per_s": round(report.verified[SUBDIR] / seconds),
            }
        if args.cct:
            subdir_dir = signed.directory / SUBDIR
            out["cct_sign"] = run_cct(
                subdir_dir, signed.directory, min(args.cct_records, args.records)
            )
        unsigned.close()
        signed.close()
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
