"""Attestation fixtures: a local Sigstore instance and its trust root file, and a server (the
tests/server fixtures) whose `attestation_trust_root` is that file."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockyard.config import Settings, load_settings
from tests.attest.local_sigstore import LocalSigstore
from tests.server.conftest import (  # noqa: F401  (fixtures, used by name)
    UPLOAD_LIMIT,
    app,
    boot,
    catalog,
    client,
    main_channel,
    write_token,
)


@pytest.fixture(scope="session")
def sigstore_local() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture(scope="session")
def trust_root(sigstore_local: LocalSigstore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sigstore") / "trusted_root.json"
    path.write_text(sigstore_local.trusted_root_json())
    return path


@pytest.fixture
def settings(tmp_path: Path, trust_root: Path) -> Settings:
    return load_settings(
        env={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "max_upload_bytes": UPLOAD_LIMIT,
            "attestation_trust_root": str(trust_root),
        },
    )
