"""Where a channel's trust files live.

    <channel>/1.root.json, 2.root.json ...   public: the root chain (served)
    <channel>/key_mgr.json                   public: the current key_mgr (served)
    <channel>/.stockyard/trust/              private (never served: names starting with '.')
        trust.json                           which pkg_mgr key signs, pending metadata
        pkg_mgr-<keyid>.pem                  the online key, encrypted (PKCS#8)
        pending/key_mgr.json                 key_mgr that ends a pkg_mgr overlap window
        cache/<subdir>.<keyid>.msgpack       signatures already made (incremental signing)

CCT clients find the public files at `signing_metadata_url_base`, i.e. the channel's URL.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from stockyard.trust.canonical import decode_json
from stockyard.trust.errors import MetadataInvalid, TrustNotConfigured
from stockyard.trust.metadata import KEY_MGR_FILE, root_filename

TRUST_DIR = ".stockyard/trust"
CONFIG_FILE = "trust.json"
PENDING_KEY_MGR = "pending/key_mgr.json"
_ROOT_NAME = re.compile(r"^([1-9][0-9]*)\.root\.json$")
#: What `TrustConfig.key_file` may be: a key file the ceremony wrote (ceremony.new_online_key).
_KEY_FILE = re.compile(r"pkg_mgr-[0-9a-f]+\.pem")


class TrustConfig(msgspec.Struct, kw_only=True):
    """The private configuration of a signed channel (no key material in clear)."""

    format: int = 1
    #: Public key (hex) of the pkg_mgr key that signs records now.
    signing_key: str
    #: Its encrypted key file, relative to the trust directory.
    key_file: str
    #: When `pending/key_mgr.json` replaces key_mgr.json (end of a pkg_mgr overlap window).
    pending_key_mgr_after: str | None = None


#: Built at import (under the import lock): msgspec's first use of a Struct is not thread safe.
_decode_config = msgspec.json.Decoder(TrustConfig).decode


def write_atomic(path: Path, data: bytes, mode: int = 0o644, *, fsync: bool = True) -> None:
    """Replace `path` by `data` (temp file next to it, fsync, rename): readers see the old
    file or the new one, never a part. (`fsync=False` for caches a crash may lose.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@dataclass(frozen=True, slots=True)
class TrustLayout:
    channel_dir: Path

    @property
    def state_dir(self) -> Path:
        return self.channel_dir / TRUST_DIR

    @property
    def config_path(self) -> Path:
        return self.state_dir / CONFIG_FILE

    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"

    @property
    def pending_key_mgr_path(self) -> Path:
        return self.state_dir / PENDING_KEY_MGR

    @property
    def key_mgr_path(self) -> Path:
        return self.channel_dir / KEY_MGR_FILE

    def root_path(self, version: int) -> Path:
        return self.channel_dir / root_filename(version)

    def is_configured(self) -> bool:
        return self.config_path.is_file()

    def load_config(self) -> TrustConfig:
        if not self.config_path.is_file():
            raise TrustNotConfigured(f"{self.channel_dir} is not set up for signing")
        try:
            config = _decode_config(self.config_path.read_bytes())
        except msgspec.DecodeError as exc:
            raise MetadataInvalid(f"{self.config_path}: {exc}") from exc
        # The file may come from a bucket (trust/bucket.py): it never names a path of its own.
        if not _KEY_FILE.fullmatch(config.key_file):
            raise MetadataInvalid(
                f"{self.config_path}: key_file {config.key_file!r} is not the name of a pkg_mgr "
                "key file (pkg_mgr-<hex>.pem in the trust directory)",
                hint="Restore trust.json from a backup, or run `stockyard trust rotate-pkg-mgr`.",
            )
        return config

    def save_config(self, config: TrustConfig) -> None:
        data = msgspec.json.format(msgspec.json.encode(config), indent=2)
        write_atomic(self.config_path, data + b"\n", mode=0o600)

    def root_versions(self) -> list[int]:
        """Versions of the `N.root.json` files present, sorted."""
        found = (_ROOT_NAME.match(path.name) for path in self.channel_dir.glob("*.root.json"))
        return sorted(int(match.group(1)) for match in found if match)

    def read_json(self, path: Path) -> Any:
        try:
            return decode_json(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise MetadataInvalid(f"{path}: cannot read JSON: {exc}") from exc

    def latest_root(self) -> tuple[int, dict[str, Any]]:
        versions = self.root_versions()
        if not versions:
            raise TrustNotConfigured(f"{self.channel_dir} has no N.root.json")
        document = self.read_json(self.root_path(versions[-1]))
        return versions[-1], document
