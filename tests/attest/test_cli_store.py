"""`stockyard attest policy|verify` and the `.v0.sigs` sidecar store."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from stockyard.attest.store import attested_sha256, keep_attestation, read_bundles
from stockyard.cli import attest_cmd
from stockyard.config import load_settings
from stockyard.index.workspace import ChannelWorkspace
from stockyard.server.channels import bootstrap
from stockyard.storage import LocalStore
from tests.attest.local_sigstore import GITHUB_ISSUER, WORKFLOW, LocalSigstore, statement
from tests.server.artifacts import make_artifact, sha256_of

URL = "https://conda.example.com/main"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("version")(lambda: None)  # a second command keeps `attest` a subcommand
    attest_cmd.register(app)
    return app


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), list(args))
    return result.exit_code, result.output


def test_policy_is_shown_and_set(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bootstrap(load_settings(env={}, overrides={"data_dir": str(data)}), reindex=False)
    assert _run("attest", "policy", "main", "--data", str(data)) == (0, "null\n")
    code, out = _run(
        "attest", "policy", "main", "--data", str(data), "--require",
        "--publisher", GITHUB_ISSUER, WORKFLOW, "widgets,widgets-*",
    )  # fmt: skip
    assert code == 0, out
    code, out = _run(
        "attest", "policy", "main", "--data", str(data),
        "--publisher", "https://accounts.example.com", "me@example.com", "*",
    )  # fmt: skip
    shown = json.loads(out)
    assert shown["require"] is True
    assert shown["publishers"][0] == {
        "issuer": GITHUB_ISSUER,
        "identity": WORKFLOW,
        "names": ["widgets", "widgets-*"],
    }
    assert len(shown["publishers"]) == 2
    code, out = _run("attest", "policy", "main", "--data", str(data), "--optional")
    assert json.loads(out)["require"] is False and len(json.loads(out)["publishers"]) == 2
    code, out = _run("attest", "policy", "main", "--data", str(data), "--any-publisher")
    assert json.loads(out)["publishers"] == []
    assert _run("attest", "policy", "main", "--data", str(data), "--clear") == (0, "null\n")


def test_verify_a_bundle_and_a_sidecar(
    sigstore_local: LocalSigstore, trust_root: Path, tmp_path: Path
) -> None:
    artifact = make_artifact(tmp_path, "widgets")
    good = sigstore_local.bundle(statement(artifact.name, sha256_of(artifact), URL))
    bad = sigstore_local.bundle(statement(artifact.name, "00" * 32, URL))
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "both.v0.sigs").write_text(json.dumps([bad, good]))
    base = ["attest", "verify", "--trust-root", str(trust_root), "--channel-url", URL]
    code, out = _run(*base, str(tmp_path / "good.json"), str(artifact))
    assert code == 0 and f"verified: {WORKFLOW}" in out
    code, out = _run(*base, "--json", str(tmp_path / "both.v0.sigs"), str(artifact))
    results = json.loads(out)
    assert code == 0 and [r["ok"] for r in results] == [False, True]
    assert results[0]["check"] == "digest"
    wrong_channel = [*base[:-1], "https://elsewhere.example.com/x"]
    code, out = _run(*wrong_channel, str(tmp_path / "good.json"), str(artifact))
    assert code == 1 and "refused (targetChannel)" in out
    only = ["--publisher", GITHUB_ISSUER, "https://github.com/other/*", "*"]
    code, out = _run(*base, *only, str(tmp_path / "good.json"), str(artifact))
    assert code == 1 and "refused (identity)" in out
    (tmp_path / "junk.json").write_text("junk")
    code, out = _run(*base, str(tmp_path / "junk.json"), str(artifact))
    assert code == 1 and "refused (bundle)" in out


def test_the_sidecar_keeps_bundles_of_the_current_bytes(
    sigstore_local: LocalSigstore, tmp_path: Path
) -> None:
    one = sigstore_local.bundle(statement("w-1-0.conda", "aa" * 32, URL))
    two = sigstore_local.bundle(statement("w-1-0.conda", "aa" * 32, URL))
    other = sigstore_local.bundle(statement("w-1-0.conda", "bb" * 32, URL))
    assert attested_sha256(one) == "aa" * 32
    store, workspace = LocalStore(tmp_path, fsync=False), ChannelWorkspace(tmp_path)
    changes: list[int] = []

    def keep(sha256: str, bundle: dict | None = None) -> int:
        count = keep_attestation(
            store,
            workspace,
            "noarch",
            "w-1-0.conda",
            sha256,
            bundle,
            changed=lambda: changes.append(1),
        )
        return count

    assert keep("aa" * 32) == 0
    assert not (tmp_path / "noarch" / "w-1-0.conda.v0.sigs").exists()
    assert keep("aa" * 32, one) == 1
    assert keep("aa" * 32, one) == 1
    assert len(changes) == 1  # the second time nothing changed
    assert keep("aa" * 32, two) == 2
    assert read_bundles(store, "noarch", "w-1-0.conda") == [one, two]
    assert keep("bb" * 32, other) == 1
    assert read_bundles(store, "noarch", "w-1-0.conda") == [other]
    (tmp_path / "noarch" / "w-1-0.conda.v0.sigs").write_text("damaged")
    assert keep("bb" * 32) == 0
    assert not (tmp_path / "noarch" / "w-1-0.conda.v0.sigs").exists()
    assert len(changes) == 4
