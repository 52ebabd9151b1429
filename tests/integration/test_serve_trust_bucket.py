"""CCT signing of a channel in a bucket, served by replicas sharing PostgreSQL and S3 (moto).

`stockyard trust init --channel NAME` keeps the channel's trust files in the bucket; every
replica mirrors them and signs what it publishes; conda-content-trust's own verifier and ours
accept what any replica serves, also after a pkg_mgr rotation.
"""

from __future__ import annotations

import json
import re
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.s3server import S3Server
from tests.server.artifacts import make_artifact
from tests.server.live import admin_token, live_server, stockyard
from tests.server.uploading import prefix_upload
from tests.trust.cct_env import cct_python, run_check

pytestmark = pytest.mark.integration

BUCKET = "stockyard-signed"
PASSPHRASE = "correct horse battery staple for tests"


def _cct_check(url: str, root: Path) -> dict[str, object] | None:
    python, _why = cct_python()
    if python is None:
        return None
    return run_check(python, "verify", url, str(root), "noarch")


def test_a_signed_channel_in_a_bucket_is_signed_by_every_replica(
    s3: S3Server, database: str, tmp_path: Path
) -> None:
    env = {
        **s3.environment(),
        "STOCKYARD_DB_URL": database,
        "STOCKYARD_STORAGE_URL": f"s3://{BUCKET}/channels",
        "STOCKYARD_TRUST_PASSPHRASE": PASSPHRASE,
    }
    offline = tmp_path / "offline"
    cli = ("--data", str(tmp_path / "cli"))
    with ExitStack() as stack:
        first = stack.enter_context(live_server(tmp_path / "a", env=env))
        token = admin_token(first.banner)
        created = stockyard("channel", "create", "signed", *cli, env=env)
        assert created.returncode == 0, created.stderr
        early = make_artifact(tmp_path / "pkgs", "early", "1.0")
        with httpx.Client(base_url=first.url, timeout=60) as client:
            assert prefix_upload(client, "signed", early, token).status_code == 201
        init = stockyard(
            "trust", "init", "--channel", "signed", "--keys-dir", str(offline), *cli, env=env
        )
        assert init.returncode == 0, init.stdout + init.stderr
        assert "stored .stockyard/trust/trust.json in the bucket" in init.stdout
        second = stack.enter_context(live_server(tmp_path / "b", env=env))

        # an upload through one replica is signed, and the other serves it signed
        late = make_artifact(tmp_path / "pkgs", "late", "1.0")
        with httpx.Client(base_url=first.url, timeout=60) as client:
            assert prefix_upload(client, "signed", late, token).status_code == 201
        repodata = httpx.get(f"{second.url}/signed/noarch/repodata.json").json()
        assert set(repodata["signatures"]) == {"early-1.0-0.conda", "late-1.0-0.conda"}
        for replica in (first, second):
            assert httpx.get(f"{replica.url}/signed/1.root.json").status_code == 200
            assert httpx.get(f"{replica.url}/signed/key_mgr.json").status_code == 200
            private = httpx.get(f"{replica.url}/signed/.stockyard/trust/trust.json")
            assert private.status_code == 404
        pem = [key for key in s3.client().list_objects_v2(Bucket=BUCKET)["Contents"]]
        keys = {entry["Key"] for entry in pem}
        assert any(re.search(r"/\.stockyard/trust/pkg_mgr-[0-9a-f]+\.pem$", k) for k in keys)
        stored = s3.client().get_object(
            Bucket=BUCKET,
            Key="channels/signed/.stockyard/trust/"
            + next(k.rsplit("/", 1)[1] for k in keys if k.endswith(".pem")),
        )
        assert b"ENCRYPTED" in stored["Body"].read()  # the online key is encrypted at rest

        root = tmp_path / "1.root.json"
        root.write_bytes(httpx.get(f"{second.url}/signed/1.root.json").content)
        verified = stockyard("trust", "verify", f"{second.url}/signed", "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert json.loads(verified.stdout)["ok"] is True
        reference = _cct_check(f"{second.url}/signed", root)
        if reference is not None:
            assert reference["verified"] == {"noarch": 2}
            assert reference["failed"] == {"noarch": []}

        # a pkg_mgr rotation through the CLI: every replica signs with the new key
        before = set(next(iter(repodata["signatures"].values())))
        rotated = stockyard(
            "trust",
            "rotate-pkg-mgr",
            "--channel",
            "signed",
            "--keys-dir",
            str(offline),
            "--overlap-days",
            "0",
            *cli,
            env=env,
        )
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        third = make_artifact(tmp_path / "pkgs", "third", "1.0")
        with httpx.Client(base_url=second.url, timeout=60) as client:
            assert prefix_upload(client, "signed", third, token).status_code == 201
        repodata = httpx.get(f"{first.url}/signed/noarch/repodata.json").json()
        signers = {key for entry in repodata["signatures"].values() for key in entry}
        assert len(signers) == 1 and signers != before
        assert set(repodata["signatures"]) == {
            "early-1.0-0.conda",
            "late-1.0-0.conda",
            "third-1.0-0.conda",
        }
        verified = stockyard("trust", "verify", f"{first.url}/signed", "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        reference = _cct_check(f"{first.url}/signed", root)
        if reference is not None:
            assert reference["failed"] == {"noarch": []}


def test_the_trust_commands_name_a_channel_one_way(tmp_path: Path) -> None:
    both = stockyard(
        "trust", "sign", str(tmp_path), "--channel", "main", "--data", str(tmp_path / "d")
    )
    assert both.returncode != 0
    assert "either by its directory or with --channel" in both.stdout + both.stderr
    neither = stockyard("trust", "sign")
    assert neither.returncode != 0
