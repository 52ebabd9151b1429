"""Attestations on the server: verified on upload (prefix protocol's `attestation` part) and on
`POST /api/channels/{c}/attestations/{filename}`, required by policy, kept as `.v0.sigs` next to
the artifact, served by the channel's file route, listed in `/api`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest

from stockyard.catalog import Catalog, Channel
from stockyard.config import Settings
from stockyard.types.policy import AttestationPolicy, TrustedPublisher
from tests.attest.local_sigstore import (
    GITHUB_ISSUER,
    WORKFLOW,
    LeafOptions,
    LocalSigstore,
    statement,
)
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.uploading import prefix_upload, quetz_upload

CHANNEL_URL = "http://127.0.0.1:8000/main"


def _bundle(ls: LocalSigstore, path: Path, **kwargs: Any) -> str:
    target = kwargs.pop("target", CHANNEL_URL)
    stmt = statement(kwargs.pop("name", path.name), kwargs.pop("sha", sha256_of(path)), target)
    return json.dumps(ls.bundle(stmt, kwargs.pop("leaf", None)))


def _set_policy(catalog: Catalog, channel: Channel, policy: AttestationPolicy | None) -> None:
    stored = catalog.channel_policy(channel.id)
    catalog.set_channel_policy(channel.id, msgspec.structs.replace(stored, attestations=policy))


def _sigs(settings: Settings, path: Path) -> Path:
    return settings.data_path / "channels" / "main" / "noarch" / f"{path.name}.v0.sigs"


def test_an_upload_with_a_good_attestation_keeps_and_serves_it(
    client, settings, write_token, sigstore_local, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    artifact = make_artifact(tmp_path, "widgets")
    bundle = _bundle(sigstore_local, artifact)
    response = prefix_upload(client, "main", artifact, write_token, attestation=bundle)
    assert response.status_code == 201, response.text
    assert json.loads(_sigs(settings, artifact).read_bytes()) == [json.loads(bundle)]
    served = client.get(f"/main/noarch/{artifact.name}.v0.sigs")
    assert served.status_code == 200 and served.json() == [json.loads(bundle)]
    assert "etag" in served.headers
    # Never stored unverified under the old name.
    assert client.get(f"/main/noarch/{artifact.name}.attestation.json").status_code == 404
    listed = client.get(f"/api/channels/main/packages/noarch/{artifact.name}/attestations")
    assert listed.status_code == 200, listed.text
    (only,) = listed.json()["attestations"]
    assert only["signer"]["identity"] == WORKFLOW
    assert only["signer"]["issuer"] == GITHUB_ISSUER
    assert only["signer"]["repository"] == "https://github.com/acme/widgets"
    assert only["sha256"] == sha256_of(artifact)
    repodata = client.get("/main/noarch/repodata.json").json()
    assert set(repodata["packages.conda"]) == {artifact.name}


@pytest.mark.parametrize(
    ("kwargs", "check"),
    [
        ({"target": "https://elsewhere.example.com/main"}, "targetChannel"),
        ({"sha": "00" * 32}, "digest"),
        ({"name": "widgets-9.9-0.conda"}, "subject"),
    ],
)
def test_a_bad_attestation_refuses_the_upload(
    client, settings, write_token, sigstore_local, tmp_path, kwargs, check
) -> None:  # type: ignore[no-untyped-def]
    artifact = make_artifact(tmp_path, "widgets")
    bundle = _bundle(sigstore_local, artifact, **kwargs)
    response = prefix_upload(client, "main", artifact, write_token, attestation=bundle)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "AttestationRefused" and body["check"] == check
    assert body["message"].startswith(f"attestation refused ({check}):")
    assert not (settings.data_path / "channels" / "main" / "noarch" / artifact.name).exists()
    assert not _sigs(settings, artifact).exists()


def test_a_forged_bundle_from_another_instance_is_refused(client, write_token, tmp_path) -> None:  # type: ignore[no-untyped-def]
    artifact = make_artifact(tmp_path, "widgets")
    bundle = _bundle(LocalSigstore(), artifact)
    response = prefix_upload(client, "main", artifact, write_token, attestation=bundle)
    assert response.status_code == 400 and response.json()["check"] == "certificate"


def test_a_required_attestation(
    client, catalog, main_channel, write_token, sigstore_local, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    _set_policy(catalog, main_channel, AttestationPolicy(require=True))
    artifact = make_artifact(tmp_path, "widgets")
    without = prefix_upload(client, "main", artifact, write_token)
    assert without.status_code == 400 and without.json()["check"] == "required"
    assert "requires a CEP 27 attestation" in without.json()["message"]
    quetz = quetz_upload(client, "main", artifact, write_token)  # no way to send one: refused
    assert quetz.status_code == 400
    bundle = _bundle(sigstore_local, artifact)
    good = prefix_upload(client, "main", artifact, write_token, attestation=bundle)
    assert good.status_code == 201, good.text


def test_trusted_publishers_decide_who_may_publish(
    client, catalog, main_channel, write_token, sigstore_local, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    publisher = TrustedPublisher(GITHUB_ISSUER, WORKFLOW.split("@")[0] + "@*", ("widgets",))
    _set_policy(catalog, main_channel, AttestationPolicy(publishers=(publisher,)))
    artifact = make_artifact(tmp_path, "widgets")
    stranger = LeafOptions(identity="https://github.com/evil/x/.github/workflows/r.yml@main")
    bad = _bundle(sigstore_local, artifact, leaf=stranger)
    refused = prefix_upload(client, "main", artifact, write_token, attestation=bad)
    assert refused.status_code == 400 and refused.json()["check"] == "identity"
    other = make_artifact(tmp_path, "gadgets")
    not_covered = prefix_upload(
        client, "main", other, write_token, attestation=_bundle(sigstore_local, other)
    )
    assert not_covered.status_code == 400 and "no trusted publisher" in not_covered.text
    good = prefix_upload(
        client, "main", artifact, write_token, attestation=_bundle(sigstore_local, artifact)
    )
    assert good.status_code == 201, good.text


def test_attach_to_an_existing_artifact(
    client, settings, write_token, sigstore_local, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    artifact = make_artifact(tmp_path, "widgets")
    assert prefix_upload(client, "main", artifact, write_token).status_code == 201
    url = f"/api/channels/main/attestations/{artifact.name}"
    headers = {"X-API-Key": write_token}
    bundle = _bundle(sigstore_local, artifact)
    assert client.post(url, content=bundle).status_code == 401
    attached = client.post(url, content=bundle, headers=headers)
    assert attached.status_code == 201, attached.text
    assert attached.json()["attestations"] == 1
    assert attached.json()["signer"]["identity"] == WORKFLOW
    assert attached.json()["url"].endswith(f"/main/noarch/{artifact.name}.v0.sigs")
    again = client.post(url, content=bundle, headers=headers, params={"subdir": "noarch"})
    assert again.status_code == 201 and again.json()["attestations"] == 1  # not duplicated
    second = client.post(url, content=_bundle(sigstore_local, artifact), headers=headers)
    assert second.json()["attestations"] == 2
    assert len(client.get(f"/main/noarch/{artifact.name}.v0.sigs").json()) == 2
    wrong = _bundle(sigstore_local, artifact, target="https://elsewhere.example.com/main")
    refused = client.post(url, content=wrong, headers=headers)
    assert refused.status_code == 400 and refused.json()["check"] == "targetChannel"
    assert client.post(url, content=b"{", headers=headers).json()["check"] == "bundle"
    missing = client.post(
        "/api/channels/main/attestations/nothing-1.0-0.conda", content=bundle, headers=headers
    )
    assert missing.status_code == 404
    assert len(client.get(f"/main/noarch/{artifact.name}.v0.sigs").json()) == 2


def test_a_forced_replacement_drops_attestations_of_the_old_bytes(
    client, settings, write_token, sigstore_local, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    first = make_artifact(tmp_path / "a", "widgets", summary="first")
    second = make_artifact(tmp_path / "b", "widgets", summary="second")
    assert sha256_of(first) != sha256_of(second)
    bundle = _bundle(sigstore_local, first)
    assert prefix_upload(client, "main", first, write_token, attestation=bundle).status_code == 201
    assert _sigs(settings, first).exists()
    replaced = prefix_upload(client, "main", second, write_token, force=True)
    assert replaced.status_code == 201, replaced.text
    assert not _sigs(settings, first).exists()
    assert client.get(f"/main/noarch/{first.name}.v0.sigs").status_code == 404


def test_the_indexer_does_not_take_sidecars_for_artifacts(
    client, settings, write_token, sigstore_local, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from stockyard.index.run import index_channel

    artifact = make_artifact(tmp_path, "widgets")
    bundle = _bundle(sigstore_local, artifact)
    assert (
        prefix_upload(client, "main", artifact, write_token, attestation=bundle).status_code == 201
    )
    copy = tmp_path / "copy"
    (copy / "noarch").mkdir(parents=True)
    shutil.copy(
        settings.data_path / "channels" / "main" / "noarch" / artifact.name, copy / "noarch"
    )
    shutil.copy(_sigs(settings, artifact), copy / "noarch")
    index_channel(copy)
    repodata = json.loads((copy / "noarch" / "repodata.json").read_bytes())
    assert set(repodata["packages.conda"]) == {artifact.name}
    assert repodata["packages"] == {}


def test_attestations_of_an_artifact_without_any(client, write_token, tmp_path) -> None:  # type: ignore[no-untyped-def]
    artifact = make_artifact(tmp_path, "widgets")
    assert prefix_upload(client, "main", artifact, write_token).status_code == 201
    listed = client.get(f"/api/channels/main/packages/noarch/{artifact.name}/attestations")
    assert listed.status_code == 200 and listed.json()["attestations"] == []
    missing = client.get("/api/channels/main/packages/noarch/nothing-1.0-0.conda/attestations")
    assert missing.status_code == 404
