"""`stockyard attest`: CEP 27 attestations (Sigstore bundles) of conda artifacts.

`policy` shows or sets a channel's attestation policy (required or not, trusted publishers);
`verify` checks a bundle (or a `.v0.sigs` array of bundles) against an artifact, offline
except for Sigstore's public-good trust root when no `--trust-root` is given.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stdout

attest_app = typer.Typer(
    help="CEP 27 attestations: channel policy (trusted publishers), verify a bundle.",
    no_args_is_help=True,
)

PUBLISHER_HELP = (
    "Add a trusted publisher: OIDC issuer, identity (the certificate SAN; `*` globs) and "
    "package names (`*` globs, comma-separated). One that has the same issuer and identity is "
    "replaced; run the command again to add more."
)


def _publishers(value: tuple[str, str, str] | None) -> tuple[Any, ...]:
    """The publisher given with --publisher (none: an empty tuple)."""
    from stockyard.types.policy import TrustedPublisher

    if value is None:
        return ()
    issuer, identity, globs = value
    names = tuple(g.strip() for g in globs.split(",") if g.strip())
    return (TrustedPublisher(issuer, identity, names or ("*",)),)


def _with_publisher(table: tuple[Any, ...], added: tuple[Any, ...]) -> tuple[Any, ...]:
    """`table` with `added` in it, replacing an entry of the same issuer and identity."""
    keys = {(p.issuer, p.identity) for p in added}
    return tuple(p for p in table if (p.issuer, p.identity) not in keys) + added


@attest_app.command("policy")
def policy(
    channel: str = typer.Argument(..., help="A channel of the server's data directory."),
    require: bool = typer.Option(
        None, "--require/--optional", help="Refuse uploads without a valid attestation."
    ),
    publisher: tuple[str, str, str] | None = typer.Option(
        None, "--publisher", metavar="ISSUER IDENTITY NAMEGLOB", help=PUBLISHER_HELP
    ),
    any_publisher: bool = typer.Option(
        False, "--any-publisher", help="Empty the trusted-publisher table (any identity)."
    ),
    clear: bool = typer.Option(False, "--clear", help="Remove the channel's attestation policy."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """Show or set the channel's CEP 27 attestation policy. An attestation sent with an upload
    is always verified; the policy decides whether one is required and whose are accepted."""
    import msgspec

    from stockyard.server.channels import open_catalog
    from stockyard.types.policy import AttestationPolicy

    catalog = open_catalog(load_cli_settings(config, data))
    try:
        found = catalog.require_channel(channel)
        stored = catalog.channel_policy(found.id)
        current = stored.attestations or AttestationPolicy()
        changes: dict[str, Any] = {} if require is None else {"require": require}
        if any_publisher:
            changes["publishers"] = ()
        if _publishers(publisher):
            table = changes.get("publishers", current.publishers)
            changes["publishers"] = _with_publisher(table, _publishers(publisher))
        updated = None if clear else msgspec.structs.replace(current, **changes)
        if clear or changes:
            catalog.set_channel_policy(
                found.id, msgspec.structs.replace(stored, attestations=updated)
            )
        shown = catalog.channel_policy(found.id).attestations
    finally:
        catalog.close()
    print_json(msgspec.to_builtins(shown) if shown else None)


def _bundles(path: Path) -> list[bytes]:
    """One bundle, or each bundle of a `.v0.sigs` array, as JSON bytes."""
    import msgspec

    data = path.read_bytes()
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return [data]  # refused by the verifier with its own message
    if isinstance(document, list):
        return [msgspec.json.encode(item) for item in document]
    return [data]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_one(
    data: bytes, artifact: Path, sha256: str, options: dict[str, Any]
) -> dict[str, Any]:
    from stockyard.attest.verify import AttestationRefused, verify_attestation

    try:
        verified = verify_attestation(data, filename=artifact.name, sha256=sha256, **options)
    except AttestationRefused as exc:
        return {"ok": False, "check": exc.check, "message": exc.message}
    return {"ok": True, "signer": verified.signer.to_dict(), **verified.log}


@attest_app.command("verify")
def verify(
    bundle: Path = typer.Argument(..., exists=True, dir_okay=False, help="Bundle or .v0.sigs."),
    artifact: Path = typer.Argument(..., exists=True, dir_okay=False, help="The artifact."),
    channel_url: str = typer.Option(
        None, "--channel-url", help="The channel it was published to (targetChannel)."
    ),
    trust_root: Path = typer.Option(
        None, "--trust-root", help="trusted_root.json. Default: the settings', else public-good."
    ),
    publisher: tuple[str, str, str] | None = typer.Option(
        None, "--publisher", metavar="ISSUER IDENTITY NAMEGLOB", help="Accept only it."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
) -> None:
    """Verify a CEP 27 attestation of ARTIFACT: Sigstore bundle, certificate chain, transparency
    log, statement (predicateType, filename, sha256, targetChannel) and signer. Exits 1 unless
    at least one bundle verifies."""
    root = str(trust_root) if trust_root else load_cli_settings(config, data).attestation_trust_root
    options = {"channel_url": channel_url, "publishers": _publishers(publisher), "trust_root": root}
    sha256 = _sha256(artifact)
    results = [_verify_one(item, artifact, sha256, options) for item in _bundles(bundle)]
    if as_json:
        print_json(results)
    else:
        for result in results:
            if result["ok"]:
                signer = result["signer"]
                stdout.print(
                    f"verified: {signer['identity']} (issuer {signer['issuer']})", markup=False
                )
            else:
                stdout.print(f"refused ({result['check']}): {result['message']}", markup=False)
    if not any(result["ok"] for result in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(attest_app, name="attest")
