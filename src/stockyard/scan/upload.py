"""The upload hook: scan an uploaded artifact (stored by sha256 like any scan) and decide by
the channel's scan policy. Call it after the upload is validated, before it is committed."""

from __future__ import annotations

from pathlib import Path

from stockyard.scan.identify import identify_artifact
from stockyard.scan.policy import Refusal, ScanPolicy, check_upload
from stockyard.scan.report import collapse_aliases
from stockyard.scan.service import rematch
from stockyard.scan.store import ScanStore


def scan_upload(store: ScanStore, path: Path, filename: str, policy: ScanPolicy) -> Refusal | None:
    """None to accept; a `Refusal` (`.to_error()` is a StockyardError) to refuse.

    Raises `InvalidArtifact` for an unreadable artifact (validation refuses those first).
    """
    if policy.mode == "off":
        return None
    identification = identify_artifact(path, filename=filename)
    store.put_identifications([identification])
    rematch(store, [identification.sha256])
    findings = store.findings([identification.sha256]).get(identification.sha256, [])
    return check_upload(collapse_aliases(findings), policy)
