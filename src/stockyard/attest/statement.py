"""The CEP 27 publish statement: an in-toto Statement v1 whose single subject is the artifact.

https://github.com/conda/ceps/blob/main/cep-0027.md: `predicateType` is
`https://schemas.conda.org/attestations-publish-1.schema.json` (earlier drafts said
`.../attestations/publish/v1`; the accepted text and the tools that produce attestations use
the schema URL), `subject[0].name` is the artifact's filename, `subject[0].digest.sha256` its
sha256, and `predicate.targetChannel` the channel URL it was published to (no trailing slash).
These checks run on the payload only after its signature was verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
PREDICATE_TYPE: Final = "https://schemas.conda.org/attestations-publish-1.schema.json"


class StatementMismatch(Exception):
    """The statement is not a CEP 27 publish statement for this artifact and channel."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check
        self.message = message


@dataclass(frozen=True, slots=True)
class PublishStatement:
    filename: str
    sha256: str
    target_channel: str | None


def _parse(payload_type: str, payload: bytes) -> dict[str, Any]:
    if payload_type != PAYLOAD_TYPE:
        raise StatementMismatch(
            "statement", f"the envelope holds {payload_type!r}, not an in-toto statement"
        )
    try:
        statement = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        raise StatementMismatch("statement", "the in-toto statement is not JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise StatementMismatch("statement", f"the payload is not an {STATEMENT_TYPE} statement")
    return statement


def _subject(statement: dict[str, Any]) -> tuple[str, str]:
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise StatementMismatch("subject", "CEP 27 needs exactly one subject (the artifact)")
    name, digest = subjects[0].get("name"), subjects[0].get("digest")
    sha256 = digest.get("sha256") if isinstance(digest, dict) else None
    if not isinstance(name, str) or not isinstance(sha256, str):
        raise StatementMismatch("subject", "the subject needs a name and a sha256 digest")
    return name, sha256.lower()


def _target_channel(statement: dict[str, Any]) -> str | None:
    predicate = statement.get("predicate")
    if predicate is None:
        return None
    target = predicate.get("targetChannel") if isinstance(predicate, dict) else None
    if not isinstance(target, str) or not target:
        raise StatementMismatch("targetChannel", "the predicate has no targetChannel string")
    return target


def read_statement(payload_type: str, payload: bytes) -> PublishStatement:
    """The verified payload as a CEP 27 statement (raises StatementMismatch)."""
    statement = _parse(payload_type, payload)
    predicate_type = statement.get("predicateType")
    if predicate_type != PREDICATE_TYPE:
        raise StatementMismatch(
            "predicateType", f"predicateType is {predicate_type!r}, not {PREDICATE_TYPE!r}"
        )
    name, sha256 = _subject(statement)
    return PublishStatement(name, sha256, _target_channel(statement))


def check_statement(
    statement: PublishStatement, *, filename: str, sha256: str, channel_url: str | None
) -> None:
    """The statement names this artifact (filename and sha256) and this channel.

    `channel_url` None skips the channel check (a verifier outside any channel context). A
    statement without targetChannel is refused when a channel is given: it would attest the
    artifact for any channel, so it could be replayed into this one."""
    if statement.filename != filename:
        raise StatementMismatch(
            "subject", f"the attestation is for {statement.filename!r}, not {filename!r}"
        )
    if statement.sha256 != sha256.lower():
        raise StatementMismatch(
            "digest",
            f"the attested sha256 {statement.sha256} is not the artifact's {sha256.lower()}",
        )
    if channel_url is None:
        return
    expected = channel_url.rstrip("/")
    if statement.target_channel is None:
        raise StatementMismatch(
            "targetChannel", f"the attestation names no targetChannel (expected {expected!r})"
        )
    if statement.target_channel.rstrip("/") != expected:
        raise StatementMismatch(
            "targetChannel",
            f"the attestation targets {statement.target_channel!r}, not this channel {expected!r}",
        )
