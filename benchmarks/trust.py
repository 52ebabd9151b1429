"""conda-content-trust signing benchmark: every record of a large subdir, then one change.

Builds one subdir of N records (default 400,000) from the real metadata in tests/data,
multiplied into distinct records (build strings and hashes per copy), published as our publisher
writes it (encode_json, with .zst). Then, in this process:

- unsigned_rewrite: what publishing the unsigned repodata.json + .zst costs (encode the
  document from per-record bytes, zstd, write) -- the baseline a publish pays anyway;
- sign_all: `stockyard trust init` + signing every record (cold cache);
- one_change: one record patched and one added, the unsigned files rewritten (as a publish
  does), then the signing hook (`sign_published_subdir`): records signed, seconds, and the
  ratio to unsigned_rewrite;
- no_change: the hook again with nothing changed (nothing written);
- verify (unless --skip-verify): our verifier over the signed subdir;
- cct (with --cct): conda-content-trust's own `serialize_and_sign` on the first --cct-records
  records, in its own venv (tests/trust/cct_env.py builds it).

Prints one JSON document. Usage:

    .venv/bin/python benchmarks/trust.py [--records 400000] [--cct] [--skip-verify]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stockyard.testing.corpus import load_shared_records  # noqa: E402
from stockyard.trust.ceremony import init_channel  # noqa: E402
from stockyard.trust.keystore import PASSPHRASE_ENV  # noqa: E402
from stockyard.trust.sign import load_channel_signer, sign_published_subdir  # noqa: E402
from stockyard.trust.verify import verify_channel  # noqa: E402
from stockyard.types.encoding import encode_json, join_json_object, zstd_compress  # noqa: E402

PASSPHRASE = "benchmark passphrase, not a secret"


def build_records(count: int) -> list[tuple[str, bytes]]:
    """(filename, encoded record) for `count` distinct .conda records."""
    base = [
        (filename, {k: v for k, v in record.items() if k not in {"md5", "sha256", "size"}})
        for filename, record in load_shared_records()
    ]
    out: list[tuple[str, bytes]] = []
    for index in range(count):
        _, record = base[index % len(base)]
        copy = index // len(base)
        build = f"{record['build']}_s{copy}"
        filename = f"{record['name']}-{record['version']}-{build}.conda"
        digest = hashlib.sha256(filename.encode()).hexdigest()
        encoded = {**record, "build": build, "subdir": "linux-64", "sha256": digest}
        out.append((filename, encode_json({**encoded, "md5": digest[:32], "size": 1000 + index})))
    out.sort()
    return out


def publish_unsigned(subdir_dir: Path, records: list[tuple[str, bytes]]) -> float:
    """Write repodata.json(.zst) as the publisher does; seconds taken."""
    started = time.perf_counter()
    data = join_json_object(
        [
            ("info", encode_json({"subdir": "linux-64"})),
            ("packages", b"{}"),
            ("packages.conda", join_json_object(records)),
            ("removed", b"[]"),
            ("repodata_version", b"1"),
        ]
    )
    (subdir_dir / "repodata.json.zst").write_bytes(zstd_compress(data))
    (subdir_dir / "repodata.json").write_bytes(data)
    return time.perf_counter() - started


def one_change(records: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    changed = list(records)
    filename, record = changed[len(changed) // 2]
    changed[len(changed) // 2] = (filename, record.replace(b'"depends":[', b'"depends":["x",', 1))
    first = changed[0][1]
    changed.append(("zzz-new-1.0-0.conda", first.replace(b'"build":"', b'"build":"new', 1)))
    return sorted(changed)


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--cct", action="store_true")
    parser.add_argument("--cct-records", type=int, default=20_000)
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    os.environ[PASSPHRASE_ENV] = PASSPHRASE
    out: dict[str, Any] = {"records": args.records}
    with tempfile.TemporaryDirectory(prefix="stockyard-trust-bench-") as tmp:
        channel = Path(tmp) / "channel"
        subdir_dir = channel / "linux-64"
        subdir_dir.mkdir(parents=True)
        records = build_records(args.records)
        out["unsigned_rewrite_s"] = round(publish_unsigned(subdir_dir, records), 3)
        out["repodata_mb"] = round((subdir_dir / "repodata.json").stat().st_size / 1e6, 1)
        started = time.perf_counter()
        init_channel(channel, Path(tmp) / "keys", PASSPHRASE.encode())
        key = load_channel_signer(channel)
        full = sign_published_subdir(channel, "linux-64", key)
        seconds = time.perf_counter() - started
        out["sign_all"] = {
            "seconds": round(seconds, 3),
            "signed": full.signed,
            "records_per_s": round(full.signed / seconds),
        }
        out["signed_repodata_mb"] = round((subdir_dir / "repodata.json").stat().st_size / 1e6, 1)
        changed = one_change(records)
        unsigned = publish_unsigned(subdir_dir, changed)
        again = sign_published_subdir(channel, "linux-64", key)
        out["one_change"] = {
            "unsigned_rewrite_s": round(unsigned, 3),
            "sign_hook_s": round(again.seconds, 3),
            "signed": again.signed,
            "reused": again.reused,
            "hook_over_unsigned_rewrite": round(again.seconds / unsigned, 2),
        }
        idle = sign_published_subdir(channel, "linux-64", key)
        out["no_change"] = {"seconds": round(idle.seconds, 3), "written": len(idle.written)}
        if not args.skip_verify:
            started = time.perf_counter()
            report = verify_channel(channel, subdirs=["linux-64"])
            seconds = time.perf_counter() - started
            out["verify"] = {
                "ok": report.ok,
                "seconds": round(seconds, 3),
                "records_per_s": round(report.verified["linux-64"] / seconds),
            }
        if args.cct:
            out["cct_sign"] = run_cct(subdir_dir, channel, min(args.cct_records, args.records))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
