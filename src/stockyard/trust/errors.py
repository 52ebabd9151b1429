"""Errors of the trust package: each says which file (and record) and why, with a hint."""

from __future__ import annotations

from stockyard.types.errors import StockyardError


class TrustError(StockyardError):
    """Base class of signing and verification problems."""

    default_hint = "See docs/trust.md."


class TrustNotConfigured(TrustError):
    """The channel has no trust metadata (never `stockyard trust init`)."""

    default_hint = "Run 'stockyard trust init CHANNEL_DIR --keys-dir DIR' first."


class KeyUnavailable(TrustError):
    """A private key is missing, unreadable, or its passphrase is wrong or not given."""

    default_hint = (
        "Set STOCKYARD_TRUST_PASSPHRASE (or STOCKYARD_TRUST_PASSPHRASE_FILE) to the passphrase "
        "of the online pkg_mgr key; pass --keys-dir with the offline root/key_mgr keys."
    )


class MetadataInvalid(TrustError):
    """A root or key_mgr document is malformed, badly signed, skips a version or expired."""

    default_hint = "Re-issue the metadata with 'stockyard trust rotate-root' or 'rotate-pkg-mgr'."
