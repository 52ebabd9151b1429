"""conda-content-trust (CCT) compatible signing of a channel's repodata.

The chain of trust is CCT's: `N.root.json` (offline root keys) delegates `key_mgr`;
`key_mgr.json` (offline key_mgr key) delegates `pkg_mgr`; the online `pkg_mgr` key signs every
record of every published `repodata.json` (top-level `signatures` map). See docs/trust.md.

Modules: `canonical` (CCT's byte format and timestamps), `keys` (ed25519 keys at rest),
`metadata` (root and key_mgr documents), `layout` (a channel's trust files), `ceremony` (init and
rotation), `cache` + `repodata_io` + `sign` (incremental record signing; `inline` in the publish,
with `recent` comparing it with the process's last publish and `member` the `signatures` member
in segments), `fetch` + `verify` (our own verifier, expirations checked).
"""

from pathlib import Path

#: Where a channel keeps its signing state; its `trust.json` says the channel is signed. Kept
#: here, import-light, so that every commit can check it without importing `cryptography`.
TRUST_CONFIG = ".stockyard/trust/trust.json"


def is_signed_channel(channel_dir: Path) -> bool:
    return (channel_dir / TRUST_CONFIG).is_file()
