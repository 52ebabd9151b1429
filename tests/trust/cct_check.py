"""Runs inside a venv with conda-content-trust (CCT), never in the project's venv.

Does what conda does with `extra_safety_checks: true` (conda/trust/signature_verification.py),
with CCT's own functions: start from a trusted root file, walk N+1.root.json with `verify_root`
until one is missing, check key_mgr.json with `verify_delegation("key_mgr", ...)`, then every
record of each subdir's repodata.json with `verify_delegation("pkg_mgr", ...)` on
`wrap_as_signable(record)` + the record's entry of the `signatures` map.

    python cct_check.py verify BASE TRUSTED_ROOT SUBDIR[,SUBDIR...]
    python cct_check.py sign PRIVATE_KEY_HEX REPODATA_JSON   (CCT's signatures, for comparison)

BASE is a directory or an http URL. Prints one JSON document as the last line.
"""

import json
import sys
import time
import urllib.error
import urllib.request

from conda_content_trust.authentication import verify_delegation, verify_root
from conda_content_trust.common import PrivateKey, SignatureError
from conda_content_trust.signing import serialize_and_sign, wrap_as_signable


def fetch(base, name):
    if base.startswith("http"):
        try:
            with urllib.request.urlopen(base.rstrip("/") + "/" + name) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
    try:
        with open(base.rstrip("/") + "/" + name, "rb") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return None


def verify(base, trusted_root_path, subdirs):
    with open(trusted_root_path, "rb") as handle:
        trusted = json.loads(handle.read())
    while True:
        untrusted = fetch(base, "{}.root.json".format(trusted["signed"]["version"] + 1))
        if untrusted is None:
            break
        verify_root(trusted, untrusted)
        trusted = untrusted
    key_mgr = fetch(base, "key_mgr.json")
    verify_delegation("key_mgr", key_mgr, trusted)
    result = {
        "root_version": trusted["signed"]["version"],
        "key_mgr_version": key_mgr["signed"]["version"],
        "verified": {},
        "failed": {},
    }
    for subdir in subdirs:
        repodata = fetch(base, subdir + "/repodata.json")
        signatures = repodata.get("signatures", {})
        good, bad = 0, []
        for section in ("packages", "packages.conda"):
            for filename, info in repodata.get(section, {}).items():
                if filename not in signatures:
                    bad.append(filename)  # conda would silently not check it
                    continue
                envelope = wrap_as_signable(info)
                envelope["signatures"] = signatures[filename]
                try:
                    verify_delegation("pkg_mgr", envelope, key_mgr)
                except SignatureError:
                    bad.append(filename)
                else:
                    good += 1
        result["verified"][subdir] = good
        result["failed"][subdir] = bad
    return result


def sign(private_hex, repodata_path):
    key = PrivateKey.from_hex(private_hex)
    with open(repodata_path, "rb") as handle:
        repodata = json.loads(handle.read())
    started = time.perf_counter()
    signatures = {}
    for section in ("packages", "packages.conda"):
        for filename, info in repodata.get(section, {}).items():
            signatures[filename] = serialize_and_sign(info, key)
    return {"seconds": time.perf_counter() - started, "signatures": signatures}


if __name__ == "__main__":
    if sys.argv[1] == "verify":
        output = verify(sys.argv[2], sys.argv[3], [s for s in sys.argv[4].split(",") if s])
    else:
        output = sign(sys.argv[2], sys.argv[3])
    print(json.dumps(output))
