"""`stockyard trust ...`: conda-content-trust signing of a channel (see docs/trust.md).

- `init` creates root and key_mgr keys (written to --keys-dir, kept offline) and metadata, and
  the online pkg_mgr key (encrypted with STOCKYARD_TRUST_PASSPHRASE), then signs the channel;
- `sign` signs every published subdir now (incremental);
- `rotate-root`, `rotate-pkg-mgr`, `renew-key-mgr` re-issue metadata with the offline keys;
- `verify` checks a channel directory or URL: root chain, key_mgr, every record, expirations.

Writers take the channel lock (`<channel>/.stockyard/index.lock`), like `stockyard index`. With
`--channel NAME` (and the deployment's `--config`/`--data`) they work on a served channel; for a
channel in a bucket its trust files are pulled into the channel's workspace, changed there, and
stored back in the bucket (`stockyard.trust.bucket`), and signing republishes every subdir.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP
from stockyard.cli.output import print_json, stdout

trust_app = typer.Typer(
    help="Sign a channel as conda-content-trust expects, rotate keys, verify.",
    no_args_is_help=True,
)

_KEYS_HELP = "Directory of the offline root and key_mgr keys (keep it off the server)."
_CHANNEL = typer.Argument(
    None, help="The channel directory (or name a served channel with --channel).", file_okay=False
)
_SERVED = typer.Option(
    None,
    "--channel",
    help="A channel of the deployment by name, instead of a directory; needed for a channel "
    "in a bucket (storage_url s3://...). Uses --config/--data like `stockyard serve`.",
)
_CONFIG = typer.Option(None, "--config", help=CONFIG_HELP)
_DATA = typer.Option(None, "--data", help=DATA_HELP)


class _Target:
    """The channel a trust command works on: a directory, or a served channel whose trust
    files are in a bucket (mirrored into its workspace, `stockyard.trust.bucket`)."""

    def __init__(self, directory: Path, served: Any | None = None) -> None:
        self.directory = directory
        #: (catalog, store, channel, workspace) of a channel in a bucket.
        self.served = served

    def sign_all(self, zst_level: int) -> None:
        """Sign every published subdir now. In a bucket: store the trust files there, then
        republish every subdir (each is signed as it is written)."""
        if self.served is None:
            _sign_all(self.directory, zst_level)
            return
        from stockyard.index.commit import ChangeSet, ChannelCommit

        catalog, store, channel, workspace = self.served
        self.finish()  # the republish below pulls the trust files from the bucket
        for subdir in catalog.known_subdirs(channel.id):
            catalog.mark_dirty(channel.id, subdir)
        result = ChannelCommit.open(catalog, store, channel, workspace).commit(ChangeSet())
        for subdir in result.subdirs_published:
            stdout.print(f"{subdir}: republished, every record signed", highlight=False)

    def finish(self) -> None:
        """Store the changed trust files in the bucket (a channel in a bucket)."""
        if self.served is not None:
            from stockyard.trust import is_signed_channel
            from stockyard.trust.bucket import new_trust_stamp, push_trust

            catalog, store, channel, _workspace = self.served
            written = push_trust(store, self.directory)
            for key in written:
                stdout.print(f"stored {key} in the bucket", highlight=False)
            stamped = catalog.trust_stamp(channel.id) is not None
            if written or (not stamped and is_signed_channel(self.directory)):
                catalog.set_trust_stamp(channel.id, new_trust_stamp())  # replicas pull at once


@contextmanager
def _locked(
    channel_dir: Path | None, name: str | None, config: Path | None, data: Path | None
) -> Iterator[_Target]:
    """The channel's lock held, its trust files at hand (pulled from the bucket, and pushed
    back when the command succeeds)."""
    from stockyard.index.workspace import ChannelWorkspace
    from stockyard.types.errors import ConfigError

    if (channel_dir is None) == (name is None):
        raise ConfigError(
            "name the channel either by its directory or with --channel, not both",
            hint="stockyard trust init ./channels/main ... or --channel main --config FILE.",
        )
    if channel_dir is not None:
        if not channel_dir.is_dir():
            raise ConfigError(f"{channel_dir} is not a directory", hint="Pass a channel directory.")
        with ChannelWorkspace(channel_dir).lock():
            yield _Target(channel_dir)
        return
    assert name is not None
    with _served_channel(name, config, data) as target:
        yield target


@contextmanager
def _served_channel(name: str, config: Path | None, data: Path | None) -> Iterator[_Target]:
    from stockyard.cli.data_dir import load_cli_settings
    from stockyard.server.channels import layout_for, open_catalog
    from stockyard.storage.parallel import is_remote
    from stockyard.trust.bucket import pull_trust

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        channel = catalog.require_channel(name)
        layout = layout_for(settings)
        store, workspace = layout.store(name), layout.workspace(name)
        with workspace.lock():
            if not is_remote(store):
                yield _Target(layout.channel_dir(name))
                return
            workspace.directory.mkdir(parents=True, exist_ok=True)
            pull_trust(store, workspace.directory, public=True)
            target = _Target(workspace.directory, (catalog, store, channel, workspace))
            yield target
            target.finish()
    finally:
        catalog.close()


def _sign_all(channel_dir: Path, zst_level: int) -> list[Any]:
    from stockyard.trust.sign import sign_channel

    results = sign_channel(channel_dir, zst_level=zst_level) or []
    for result in results:
        stdout.print(
            f"{result.subdir}: {result.records} records, {result.signed} signed now, "
            f"{result.reused} unchanged ({result.seconds:.2f}s)",
            highlight=False,
        )
    return results


def _print_ceremony(result: Any) -> None:
    for path in result.written:
        stdout.print(f"wrote {path}", highlight=False)
    for path in result.offline_keys:
        stdout.print(f"offline key {path} (mode 0600): move it off this machine", highlight=False)
    if result.pkg_mgr_key:
        stdout.print(f"pkg_mgr key {result.pkg_mgr_key}", highlight=False)


@trust_app.command("init")
def init(
    channel_dir: Path | None = _CHANNEL,
    served: str | None = _SERVED,
    config: Path | None = _CONFIG,
    data: Path | None = _DATA,
    keys_dir: Path = typer.Option(..., "--keys-dir", help=_KEYS_HELP),
    root_keys: int = typer.Option(1, "--root-keys", help="How many root keys."),
    root_threshold: int = typer.Option(1, "--root-threshold", help="Root signatures needed."),
    expires: float = typer.Option(365, "--expires", help="Days until root metadata expires."),
    key_mgr_expires: float = typer.Option(365, "--key-mgr-expires", help="Days for key_mgr."),
    zst_level: int = typer.Option(3, "--zst-level", help="zstd level of rewritten files."),
) -> None:
    """Set a channel up for signing and sign what it publishes."""
    from stockyard.trust.ceremony import init_channel
    from stockyard.trust.keystore import online_passphrase

    passphrase = online_passphrase()
    with _locked(channel_dir, served, config, data) as target:
        result = init_channel(
            target.directory,
            keys_dir,
            passphrase,
            root_keys=root_keys,
            root_threshold=root_threshold,
            root_days=expires,
            key_mgr_days=key_mgr_expires,
        )
        _print_ceremony(result)
        target.sign_all(zst_level)


@trust_app.command("sign")
def sign(
    channel_dir: Path | None = _CHANNEL,
    served: str | None = _SERVED,
    config: Path | None = _CONFIG,
    data: Path | None = _DATA,
    zst_level: int = typer.Option(3, "--zst-level", help="zstd level of rewritten files."),
) -> None:
    """Sign every published subdir now (only new and changed records are signed again)."""
    from stockyard.trust.errors import TrustNotConfigured
    from stockyard.trust.layout import TrustLayout

    with _locked(channel_dir, served, config, data) as target:
        if not TrustLayout(target.directory).is_configured():
            raise TrustNotConfigured(f"{channel_dir or served} is not set up for signing")
        target.sign_all(zst_level)


@trust_app.command("rotate-root")
def rotate_root(
    channel_dir: Path | None = _CHANNEL,
    served: str | None = _SERVED,
    config: Path | None = _CONFIG,
    data: Path | None = _DATA,
    keys_dir: Path = typer.Option(..., "--keys-dir", help=_KEYS_HELP),
    root_keys: int = typer.Option(1, "--root-keys", help="How many new root keys."),
    root_threshold: int = typer.Option(1, "--root-threshold", help="Root signatures needed."),
    keep_root_keys: bool = typer.Option(
        False, "--keep-root-keys", help="Keep the root keys (e.g. only to extend --expires)."
    ),
    new_key_mgr_key: bool = typer.Option(
        False, "--new-key-mgr-key", help="Also replace the key_mgr key (re-signs key_mgr.json)."
    ),
    expires: float = typer.Option(None, "--expires", help="Days until the new root expires."),
) -> None:
    """Write N+1.root.json, signed by the current root keys and the new ones."""
    from stockyard.trust.rotation import rotate_root as rotate

    with _locked(channel_dir, served, config, data) as target:
        result = rotate(
            target.directory,
            keys_dir,
            new_root_keys=None if keep_root_keys else root_keys,
            root_threshold=root_threshold,
            new_key_mgr_key=new_key_mgr_key,
            root_days=expires,
        )
    _print_ceremony(result)


@trust_app.command("rotate-pkg-mgr")
def rotate_pkg_mgr(
    channel_dir: Path | None = _CHANNEL,
    served: str | None = _SERVED,
    config: Path | None = _CONFIG,
    data: Path | None = _DATA,
    keys_dir: Path = typer.Option(..., "--keys-dir", help=_KEYS_HELP),
    overlap_days: float = typer.Option(
        7, "--overlap-days", help="Days key_mgr.json lists the old key too (0: revoke it now)."
    ),
    key_mgr_expires: float = typer.Option(None, "--key-mgr-expires", help="Days for key_mgr."),
    zst_level: int = typer.Option(3, "--zst-level", help="zstd level of rewritten files."),
) -> None:
    """A new online pkg_mgr key; every record is signed again with it."""
    from stockyard.trust.keystore import online_passphrase
    from stockyard.trust.rotation import rotate_pkg_mgr as rotate

    passphrase = online_passphrase()
    with _locked(channel_dir, served, config, data) as target:
        result = rotate(
            target.directory,
            keys_dir,
            passphrase,
            overlap_days=overlap_days,
            key_mgr_days=key_mgr_expires,
        )
        _print_ceremony(result)
        target.sign_all(zst_level)


@trust_app.command("renew-key-mgr")
def renew_key_mgr(
    channel_dir: Path | None = _CHANNEL,
    served: str | None = _SERVED,
    config: Path | None = _CONFIG,
    data: Path | None = _DATA,
    keys_dir: Path = typer.Option(..., "--keys-dir", help=_KEYS_HELP),
    expires: float = typer.Option(365, "--expires", help="Days until key_mgr expires."),
) -> None:
    """Re-issue key_mgr.json with a later expiration (same pkg_mgr keys)."""
    from stockyard.trust.rotation import renew_key_mgr as renew

    with _locked(channel_dir, served, config, data) as target:
        _print_ceremony(renew(target.directory, keys_dir, key_mgr_days=expires))


@trust_app.command("verify")
def verify(
    location: str = typer.Argument(..., help="A channel directory or URL."),
    root: Path = typer.Option(
        None, "--root", exists=True, dir_okay=False, help="Trusted root to start from."
    ),
    signing_base: str = typer.Option(
        None, "--signing-base", help="Where N.root.json and key_mgr.json are (default: channel)."
    ),
    subdir: list[str] = typer.Option(None, "--subdir", help="Only these subdirs."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Verify root chain, key_mgr and every record signature; exit 1 on any problem."""
    from stockyard.trust.canonical import decode_json
    from stockyard.trust.verify import verify_channel

    trusted = decode_json(root.read_bytes()) if root else None
    report = verify_channel(
        location, trusted_root=trusted, signing_base=signing_base, subdirs=subdir or None
    )
    if as_json:
        print_json(report.as_json())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: Any) -> None:
    stdout.print(
        f"root version {report.root_version} (expires {report.root_expires or '?'}), key_mgr "
        f"version {report.key_mgr_version} (expires {report.key_mgr_expires or '?'})",
        highlight=False,
    )
    for subdir, count in report.verified.items():
        stdout.print(f"{subdir}: {count} records verified", highlight=False)
    for note in report.notes:
        stdout.print(f"note: {note}", highlight=False)
    for problem in report.problems:
        stdout.print(f"[red]problem:[/] {problem}", highlight=False)
    stdout.print("OK" if report.ok else f"FAILED: {len(report.problems)} problem(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(trust_app, name="trust")
