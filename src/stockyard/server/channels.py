"""The server's data directory and its channels: layout, creation, first-start bootstrap.

```
DATA/catalog.db                      the catalog (unless settings.db_url points elsewhere)
DATA/channels/<name>/                a channel's store root: <subdir>/ artifacts + published files
DATA/channels/<name>/.stockyard/     its publish lock, upload spool and scratch (never served)
```

Used by the CLI (`stockyard serve`, `stockyard channel ...`) and by the app; no HTTP here.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from stockyard.catalog import Catalog, Channel
from stockyard.config import Settings
from stockyard.index.manage import ChannelHandle
from stockyard.index.workspace import STATE_DIR, ChannelWorkspace, SharedLocks
from stockyard.storage import LocalStore, Store
from stockyard.types.errors import Conflict, InvalidIdentifier, NotFound
from stockyard.types.identifiers import check_channel_name
from stockyard.types.labels import is_label_channel, label_channel_name
from stockyard.types.policy import ChannelPolicy, ProxyPolicy

#: Top-level URL segments the server uses itself; a channel of that name could not be reached.
RESERVED_CHANNEL_NAMES: Final = frozenset(
    {
        "api",
        "ui",
        "t",
        "health",
        "metrics",
        "static",
        "docs",
        "redoc",
        "openapi.json",
        "favicon.ico",
        "robots.txt",
    }
)
DEFAULT_CHANNEL: Final = "main"
#: Inside a channel directory: the indexer's lock and scratch; the server adds its upload spool
#: and gzip cache. Never served.
STATE_DIR_NAME: Final = STATE_DIR


@dataclass(frozen=True, slots=True)
class DataLayout:
    """Where each channel's files and local working area are.

    Embedded default: both in `<root>/channels/<name>/`. With `storage_url = file:///DIR`:
    in `DIR/<name>/`. With `storage_url = s3://BUCKET/PREFIX` (`remote`): the files under
    `PREFIX/<name>/` in the bucket, and only the working area (spool, scratch, caches) in
    `<root>/channels/<name>/`. With a PostgreSQL catalog, `shared_locks` replace the file locks.
    """

    root: Path
    remote: Store | None = None
    files_root: Path | None = None
    shared_locks: SharedLocks | None = None

    @property
    def channels_dir(self) -> Path:
        return self.files_root or self.root / "channels"

    def channel_dir(self, name: str) -> Path:
        return self.channels_dir / name

    def state_dir(self, name: str) -> Path:
        return self.channel_dir(name) / STATE_DIR_NAME

    def workspace(self, name: str) -> ChannelWorkspace:
        return ChannelWorkspace(self.channel_dir(name), self.shared_locks, name)

    def store(self, name: str) -> Store:
        if self.remote is not None:
            return self.remote.child(name)
        return LocalStore(self.channel_dir(name))

    @property
    def public_dir(self) -> Path:
        """`public/<name>` -> `../channels/<name>` for each public channel: a web server in
        front (docs/deploy-nginx.md) serves this tree directly, so private channels and token
        URLs are the only file requests that reach the app."""
        return self.root / "public"


def layout_for(settings: Settings) -> DataLayout:
    from stockyard.catalog.coordination import channel_locks_for

    remote, files_root = _storage_root(settings.storage_url, settings.s3_endpoint_url)
    locks = channel_locks_for(settings.db_url)
    return DataLayout(settings.data_path.resolve(), remote, files_root, locks)


@functools.lru_cache(maxsize=8)
def _storage_root(url: str | None, s3_endpoint_url: str | None) -> tuple[Store | None, Path | None]:
    """(the bucket store, or the local channels directory) of a storage URL; one per process,
    so every request shares one S3 client and its connection pool."""
    if url is None:
        return None, None
    from stockyard.storage import open_store

    store = open_store(url, s3_endpoint_url=s3_endpoint_url)
    if isinstance(store, LocalStore):
        return None, store.root
    return store, None


def data_dir_exists(settings: Settings) -> bool:
    """Whether the deployment's catalog is there (always assumed for an external database)."""
    return settings.db_url is not None or (settings.data_path / "catalog.db").exists()


def open_catalog(settings: Settings, *, create: bool = False) -> Catalog:
    """The deployment's catalog. A missing data directory is created only when `create` (by
    `stockyard serve` and `stockyard channel create`, which say so); any other command run from
    the wrong folder fails instead of starting an empty deployment there."""
    if not data_dir_exists(settings):
        if not create:
            raise NotFound(
                f"no Stockyard data directory at {settings.data_path.resolve()}",
                hint="Pass --data DIR (or set STOCKYARD_DATA_DIR) to the server's data "
                "directory; `stockyard serve` creates a new one.",
            )
        settings.data_path.mkdir(parents=True, exist_ok=True)
    return Catalog.open(settings.catalog_url)


#: Written by `stockyard serve` in the data directory: the URL it serves at, so commands run
#: beside it (`stockyard channel create`) print URLs with the server's real host and port.
SERVER_FILE: Final = "server.json"


def record_server_url(settings: Settings) -> None:
    path = settings.data_path / SERVER_FILE
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps({"base_url": settings.base_url}))
    os.replace(temp, path)


def server_url(settings: Settings) -> str:
    """The URL clients use: `public_url` when set, else what the last `stockyard serve` of this
    data directory recorded, else the settings' host and port."""
    if settings.public_url:
        return settings.base_url
    try:
        recorded = json.loads((settings.data_path / SERVER_FILE).read_text())
    except (OSError, ValueError):
        return settings.base_url
    value = recorded.get("base_url") if isinstance(recorded, dict) else None
    return value if isinstance(value, str) and value else settings.base_url


def check_servable_channel_name(name: str) -> str:
    """A CEP 26 channel name that the server can route: one path segment, not reserved."""
    check_channel_name(name)
    if "/" in name:
        raise InvalidIdentifier(
            f"channel name {name!r} has several path segments; the server hosts one-segment "
            "names only",
            hint="Use a name such as 'team-label' instead of 'team/label'.",
        )
    if _is_platform_name(name):
        raise InvalidIdentifier(
            f"channel name {name!r} is the name of a platform subdir (CEP 26: channel names "
            "should not look like subdirs; clients would read <server>/{name}/ as a subdir)",
            hint="Choose another name, e.g. 'team-linux' or 'builds'.",
        )
    if name in RESERVED_CHANNEL_NAMES:
        raise Conflict(
            f"channel name {name!r} is reserved: it would collide with the server's /{name} path",
            hint=f"Choose another name; reserved: {', '.join(sorted(RESERVED_CHANNEL_NAMES))}.",
        )
    return name


def _is_platform_name(name: str) -> bool:
    """`noarch` and every platform conda knows (py-rattler's list, so new ones come along)."""
    from rattler import Subdir

    return name in {str(subdir) for subdir in Subdir.all()}


def publish_channel(settings: Settings, name: str) -> None:
    """Index the channel directory of `name` (picks up artifacts copied in by hand, repairs an
    interrupted publish, publishes noarch/repodata.json of an empty channel)."""
    from stockyard.index.run import IndexOptions, index_channel

    layout = layout_for(settings)
    directory = layout.channel_dir(name)
    directory.mkdir(parents=True, exist_ok=True)
    index_channel(
        directory,
        IndexOptions(
            db_url=settings.catalog_url,
            channel_name=name,
            workers=1,
            lock_timeout=settings.lock_timeout,
        ),
        store=layout.remote.child(name) if layout.remote is not None else None,
    )


def sync_public_links(layout: DataLayout, channels: list[Channel]) -> None:
    """Make `public/` hold a link for exactly the public channels."""
    public = layout.public_dir
    public.mkdir(parents=True, exist_ok=True)
    # Labels nest inside their channel's directory, so its link covers them.
    wanted = {c.name for c in channels if not c.private and not is_label_channel(c.name)}
    for entry in public.iterdir():
        # Dot-names are links being made by a concurrent caller (never a channel's name).
        if entry.name not in wanted and entry.is_symlink() and not entry.name.startswith("."):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
    for name in sorted(wanted):
        link = public / name
        if not link.is_symlink():
            # Unique: two callers at once (e.g. scheduled mirrors creating their channels at
            # start) each make their own and the renames both land the same link.
            tmp = public / f".{name}.{secrets.token_hex(4)}.link"
            # Relative in the default layout (the data directory can move), else absolute.
            target = (
                Path("..") / "channels" / name
                if layout.files_root is None
                else layout.channel_dir(name)
            )
            tmp.symlink_to(target, target_is_directory=True)
            os.replace(tmp, link)


def create_channel(
    settings: Settings,
    catalog: Catalog,
    name: str,
    *,
    private: bool = False,
    description: str | None = None,
    proxy: ProxyPolicy | None = None,
) -> Channel:
    """Create and publish an empty channel (a proxy channel, with `proxy`, is never published:
    its files come from its upstreams). Conflict if it exists or its name is reserved."""
    check_servable_channel_name(name)
    if proxy is not None:
        from stockyard.proxy.settings import check_proxy_policy

        proxy = check_proxy_policy(proxy)  # a bad URL or filter fails before anything exists
    channel = catalog.create_channel(name, private=private, description=description)
    if proxy is None:
        publish_channel(settings, name)
    else:
        catalog.set_channel_policy(channel.id, ChannelPolicy(proxy=proxy))
        layout_for(settings).channel_dir(name).mkdir(parents=True, exist_ok=True)
    sync_public_links(layout_for(settings), catalog.list_channels())
    return channel


def is_proxy_channel(catalog: Catalog, channel: Channel) -> bool:
    return catalog.channel_policy(channel.id).proxy is not None


def channel_handle(settings: Settings, catalog: Catalog, name: str) -> ChannelHandle:
    """A served channel with its store and workspace, for `stockyard.index.manage`."""
    channel = catalog.require_channel(name)
    layout = layout_for(settings)
    return ChannelHandle(channel, layout.store(name), layout.workspace(name))


def ensure_label_channel(settings: Settings, catalog: Catalog, channel: str, label: str) -> str:
    """The catalog name of `channel`'s label, its channel created (with the channel's
    visibility) and published empty when it does not exist yet."""
    parent = catalog.require_channel(channel)
    name = label_channel_name(parent.name, label)
    if catalog.get_channel(name) is None:
        with contextlib.suppress(Conflict):  # another request created it meanwhile
            catalog.create_channel(name, private=parent.private)
        publish_channel(settings, name)
    return name


def republish_with_labels(settings: Settings, catalog: Catalog, name: str) -> None:
    """Republish a channel and every label of it (they follow its policy)."""
    publish_channel(settings, name)
    for label in catalog.label_channels(name):
        publish_channel(settings, label.name)


@dataclass(frozen=True, slots=True)
class ServedChannels:
    """The server data directory's channels as `stockyard.labels.ChannelHandles`."""

    settings: Settings
    catalog: Catalog

    def handle(self, name: str) -> ChannelHandle:
        return channel_handle(self.settings, self.catalog, name)

    def label_handle(self, channel: str, label: str) -> ChannelHandle:
        name = ensure_label_channel(self.settings, self.catalog, channel, label)
        return channel_handle(self.settings, self.catalog, name)


def delete_channel(settings: Settings, catalog: Catalog, name: str) -> None:
    """Delete a channel: its directory is first renamed away (so a crash can never leave files
    that a new channel of the same name would pick up), then its catalog rows, then the files."""
    channel = catalog.require_channel(name)
    layout = layout_for(settings)
    directory = layout.channel_dir(name)
    doomed = layout.root / f".deleted-{name}-{secrets.token_hex(8)}"
    with layout.workspace(name).lock(settings.lock_timeout):
        if layout.remote is not None:
            # Objects first: a crash then leaves catalog rows whose files are gone (the next
            # index removes them), never objects a new channel of this name would pick up.
            layout.store(name).delete_tree()
        if directory.exists():
            directory.rename(doomed)  # its labels' directories nest inside and go with it
        for label in catalog.label_channels(name):
            catalog.delete_channel(label.id)
        catalog.delete_channel(channel.id)
    sync_public_links(layout, catalog.list_channels())
    shutil.rmtree(doomed, ignore_errors=True)


def remove_stale_uploads(layout: DataLayout, name: str) -> int:
    """Delete every spooled upload whose server process is gone (a crash or `kill -9` left it),
    whatever its age: no upload survives a restart. A replica sharing the data directory keeps
    its uploads in flight (see server/spool.py)."""
    from stockyard.server.spool import SPOOL_DIR, remove_orphans

    return remove_orphans(layout.state_dir(name) / SPOOL_DIR)


def set_repodata_max_age(catalog: Catalog, name: str, max_age: int | None) -> Channel:
    """The channel's repodata Cache-Control max-age (seconds); None: the server's setting.
    Running servers follow within their channel cache time."""
    import msgspec

    channel = catalog.require_channel(name)
    if max_age is not None and not 0 <= max_age <= 31_536_000:
        raise InvalidIdentifier(
            f"max-age {max_age} is out of range", hint="Give seconds from 0 to 31536000."
        )
    policy = catalog.channel_policy(channel.id)
    catalog.set_channel_policy(
        channel.id, msgspec.structs.replace(policy, repodata_max_age=max_age)
    )
    return channel


def set_channel_visibility(
    settings: Settings, catalog: Catalog, name: str, *, private: bool
) -> Channel:
    """Make a channel private or public. A running server follows within its channel cache time
    (`channel_cache_seconds`); the `public/` links change at once."""
    channel = catalog.require_channel(name)
    for label in catalog.label_channels(name):  # labels are served as their channel is
        catalog.set_channel_private(label.id, private)
    catalog.set_channel_private(channel.id, private)
    sync_public_links(layout_for(settings), catalog.list_channels())
    return catalog.require_channel(name)


@dataclass(slots=True)
class BootstrapResult:
    """What `bootstrap` did; the CLI prints it."""

    data_dir: Path
    catalog_url: str
    created_channels: list[str] = field(default_factory=list)
    #: The admin token, only on the first start (it is stored hashed; this is the only copy).
    admin_token: str | None = None
    channels: list[Channel] = field(default_factory=list)
    #: Whether this start created the data directory (the CLI says so).
    created_data_dir: bool = False
    #: Channels whose start-up publish failed (name -> why). The server starts anyway and serves
    #: them as last published; /health/ready lists them until a publish succeeds.
    failed_channels: dict[str, str] = field(default_factory=dict)


def _republish_isolated(settings: Settings, name: str, result: BootstrapResult) -> None:
    """One channel's content must never stop the server from starting."""
    try:
        publish_channel(settings, name)
    except Exception as exc:  # any failure of one channel; the others are still served
        result.failed_channels[name] = f"{type(exc).__name__}: {exc}"


def bootstrap(settings: Settings, *, reindex: bool = True) -> BootstrapResult:
    """Prepare the data directory: the catalog; the public channel `main` when there is no
    channel; an admin token when no active server-wide admin token exists (first start, or all
    revoked); on every start, reindex each channel (cheap when nothing changed)."""
    if settings.mirrors:  # a bad MatchSpec or license id of a scheduled mirror stops the start
        from stockyard.server.mirror_schedule import check_schedules

        check_schedules(settings)
    created = not data_dir_exists(settings)
    catalog = open_catalog(settings, create=True)
    # With an external catalog the data directory holds only this replica's spools and caches.
    settings.data_path.mkdir(parents=True, exist_ok=True)
    result = BootstrapResult(settings.data_path.resolve(), settings.catalog_url)
    result.created_data_dir = created
    try:
        if not catalog.list_channels():
            with contextlib.suppress(Conflict):  # another replica starting at the same time
                create_channel(settings, catalog, DEFAULT_CHANNEL)
                result.created_channels.append(DEFAULT_CHANNEL)
        has_admin = any(
            t.scope == "admin" and t.channel_id is None and t.status() == "active"
            for t in catalog.list_tokens()
        )
        if not has_admin:
            result.admin_token = catalog.create_token(
                scope="admin", description="created by stockyard serve"
            ).token
        record_server_url(settings)
        result.channels = catalog.list_channels()
        sync_public_links(layout_for(settings), result.channels)
        for channel in result.channels:
            remove_stale_uploads(layout_for(settings), channel.name)
        if reindex:
            for channel in result.channels:
                # A proxy channel is never indexed: its files come from its upstreams.
                if channel.name not in result.created_channels and not is_proxy_channel(
                    catalog, channel
                ):
                    _republish_isolated(settings, channel.name, result)
    finally:
        catalog.close()
    return result
