"""A channel's policy: what is published for it and how, stored per channel in the catalog.

Every way into a channel (`stockyard index`, uploads, and later mirrors and jobs) reads the same
stored policy, so they publish the same bytes. `stockyard index` flags write it.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from stockyard.types.encoding import DEFAULT_ZSTD_LEVEL
from stockyard.types.errors import InvalidMetadata


class PublishOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which files are published for each subdir, and how."""

    #: CEP 16 sharded repodata.
    shards: bool = True
    #: zstd level of repodata.json.zst and shards.
    zst_level: Annotated[int, Meta(ge=1, le=22)] = DEFAULT_ZSTD_LEVEL
    #: Also repodata.json.bz2.
    bz2: bool = False
    #: Also conda-index's current_repodata.json.
    current_repodata: bool = False
    #: Where artifacts are downloaded from (CEP 15): an absolute URL, or a URL relative to the
    #: channel root (`./`, `../mirror`, `/abs/path`). Each subdir's `info.base_url` is the URL of
    #: `<base_url>/<subdir>/`, as seen from that subdir's repodata.json.
    base_url: str | None = None
    #: index.html listings per subdir and at the channel root.
    html: bool = True
    #: Also repodata.json.gz, current_repodata.json.gz and channeldata.json.gz, for fronts that
    #: send precompressed files (nginx `gzip_static`; docs/deploy-cdn.md).
    gz: bool = True

    def subdir_base_url(self, subdir: str) -> str | None:
        """CEP 15 `info.base_url` of `subdir`. A relative base URL is given relative to the
        channel root; clients resolve it against `<channel>/<subdir>/repodata.json`, one level
        deeper, hence the extra `../` (`./` becomes `../<subdir>/`, the subdir itself)."""
        if not self.base_url:
            return None
        base = self.base_url.rstrip("/")
        if is_absolute_url(base) or base.startswith("/"):
            return f"{base}/{subdir}/"
        relative = posixpath.normpath(posixpath.join("..", base or "."))
        return f"{relative}/{subdir}/"


def is_absolute_url(value: str) -> bool:
    """`scheme://...` (http, https, file, s3...)."""
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.isascii() and scheme.isalpha()


def check_base_url(value: str) -> str:
    """A CEP 15 base URL we can publish: absolute (`https://...`, `file://...`) or relative to
    the channel root (`./`, `../mirror`, `/abs`). Anything else is ambiguous (`cdn.example.com`
    would be a relative path)."""
    if is_absolute_url(value) or value.startswith(("./", "../", "/")) or value in {".", ".."}:
        return value
    raise InvalidMetadata(
        f"base URL {value!r} is neither absolute nor explicitly relative",
        hint="Use https://host/path, or a path relative to the channel: ./, ../mirror, /path.",
    )


class ProxyPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A proxy channel (`stockyard channel create NAME --proxy URL`): served read-through from
    its upstreams, first healthy one first (see `stockyard.proxy`). Filters are plain data,
    compiled by `stockyard.proxy` with the mirror's filter language (docs/howto-mirror.md)."""

    #: Upstream channel URLs (http(s), with `/t/<token>/` when private), tried in this order.
    upstreams: Annotated[tuple[str, ...], Meta(min_length=1, max_length=16)]
    #: Seconds cached repodata is served before it is revalidated upstream (conditionally).
    ttl: Annotated[int, Meta(ge=0, le=31_536_000)] = 60
    #: Seconds one upstream may take for a document (and without progress for an artifact)
    #: before the next one is asked.
    timeout: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    #: Only these subdirs (empty: every subdir upstream has).
    subdirs: tuple[str, ...] = ()
    #: MatchSpecs: only records matching one of them / never records matching one.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    #: SPDX license ids or globs, and what an unreadable license gets.
    license_allow: tuple[str, ...] = ()
    license_deny: tuple[str, ...] = ()
    license_unknown: Literal["allow", "deny"] = "allow"
    #: ISO dates: only records built on or after / before.
    newer_than: str | None = None
    older_than: str | None = None
    #: Bound of the cache in bytes (0: none): beyond it, the least recently served artifacts
    #: are pruned (`stockyard.proxy.prune`).
    max_cache_bytes: Annotated[int, Meta(ge=0)] = 0
    #: Seconds an artifact stays cached without being served (0: however long).
    max_cache_age: Annotated[int, Meta(ge=0, le=315_360_000)] = 0

    @property
    def filtered(self) -> bool:
        """Whether any record can be left out (then records are filtered out of repodata)."""
        return bool(
            self.subdirs
            or self.include
            or self.exclude
            or self.license_allow
            or self.license_deny
            or self.license_unknown == "deny"
            or self.newer_than
            or self.older_than
        )


#: Advisory severities, lowest first ("unknown": no score the scanner could read).
Severity = Literal["unknown", "low", "medium", "high", "critical"]


class ScanPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a channel does with known vulnerabilities in uploads (see stockyard.scan).

    `mode` "off" ignores findings, "flag" records and shows them, "refuse" also refuses an
    upload carrying a finding at or above `threshold` (advisories the operator accepted, by id
    or alias, in `accept`). Findings of unknown severity refuse only with `refuse_unknown`.
    """

    mode: Literal["off", "flag", "refuse"] = "flag"
    threshold: Severity = "high"
    refuse_unknown: bool = False
    accept: tuple[str, ...] = ()


class LicenseRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which licenses a channel accepts on upload (the mirror's license filter, see
    stockyard.mirror.license_policy): SPDX ids or `*` globs; `unknown` decides for license
    strings that are not readable SPDX expressions."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    unknown: Literal["allow", "deny"] = "allow"


class TrustedPublisher(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who may publish which packages to a channel with a CEP 27 attestation (see
    stockyard.attest): the OIDC issuer of the signing certificate, its identity (the SAN: a
    workflow URI or an email; `*` globs, e.g. `https://github.com/org/repo/.github/workflows/
    release.yml@*`), and the package names it may publish (`*` globs)."""

    issuer: str
    identity: str
    names: tuple[str, ...] = ("*",)


class AttestationPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """CEP 27 publish attestations on upload. An attestation sent is always verified (Sigstore
    bundle, certificate chain, transparency log, statement); `require` refuses uploads without
    one; `publishers`, when not empty, is the only identities accepted (a trusted-publisher
    table; empty: any identity the trust root certifies, recorded and shown)."""

    require: bool = False
    publishers: tuple[TrustedPublisher, ...] = ()


class SnapshotSchedule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Snapshots `stockyard serve` takes of a channel by itself (see stockyard.snapshots)."""

    #: Seconds between snapshots (at least a minute).
    every_seconds: Annotated[int, Meta(ge=60)] = 86400
    #: Keep the newest this many (older ones are deleted); None: keep all.
    keep: Annotated[int, Meta(ge=1)] | None = None


class ChannelPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything that decides what a channel publishes, stored with the channel."""

    publish: PublishOptions = PublishOptions()
    #: A patch source (patch_instructions.json, a patch package, or a Python generator), as a
    #: path; relative paths are relative to the channel directory. None: no patches.
    patch_source: str | None = None
    #: Refuse uploads that carry legacy or non-standard metadata instead of warning.
    strict: bool = False
    #: Cache-Control max-age (seconds) of repodata, the shard index and channeldata; None: the
    #: server's setting.
    repodata_max_age: Annotated[int, Meta(ge=0)] | None = None
    #: Uploads are scanned against the server's OSV data by this policy; None: not scanned.
    scan: ScanPolicy | None = None
    #: Uploads whose license these rules refuse are refused; None: any license.
    license: LicenseRules | None = None
    #: Scheduled snapshots; None: only those made by hand.
    snapshots: SnapshotSchedule | None = None
    #: A proxy channel's upstreams and filters; None: an ordinary channel.
    proxy: ProxyPolicy | None = None
    #: CEP 27 attestations: required or not, and the trusted publishers; None: an attestation
    #: sent is still verified, from any identity (see stockyard.attest).
    attestations: AttestationPolicy | None = None


_decode_policy = msgspec.json.Decoder(ChannelPolicy).decode


def decode_policy(data: bytes) -> ChannelPolicy:
    """A stored policy; unreadable bytes are a clear error, never a silent default."""
    try:
        return _decode_policy(data)
    except msgspec.DecodeError as exc:
        raise InvalidMetadata(
            f"the stored channel policy is invalid: {exc}",
            hint="Set it again with `stockyard index` flags; see docs/architecture.md.",
        ) from exc
