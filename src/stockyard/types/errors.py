"""The one error hierarchy of Stockyard.

Every error a user can cause carries a message (what is wrong) and a hint (what to do). The CLI
turns these into a one-line error and a non-zero exit code; the server turns them into a 4xx JSON
body. Anything that is *not* a StockyardError is a bug and may show a traceback.
"""

from __future__ import annotations


class StockyardError(Exception):
    """Base class: a problem the user can understand and act on."""

    #: Default hint when the raiser gives none.
    default_hint: str = ""
    #: HTTP status the server maps this error to.
    http_status: int = 400

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        """A JSON-friendly form, used by `--json` output and HTTP error bodies."""
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint}


class InvalidIdentifier(StockyardError):
    """A package name, version, build string, subdir, channel name or filename breaks CEP 26."""

    default_hint = "See CEP 26 for the allowed characters and lengths."


class InvalidMetadata(StockyardError):
    """A metadata document (index.json, repodata.json, ...) does not match its schema."""

    default_hint = "Fix the document so that it matches the schema in schemas/."


class InvalidArtifact(StockyardError):
    """A conda artifact cannot be read: truncated, corrupt, wrong layout or inconsistent."""

    default_hint = "Rebuild or re-download the artifact; it is not a valid conda package."

    def __init__(self, path: str, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {reason}", hint)
        self.path = path
        self.reason = reason


class UnsafeArchive(InvalidArtifact):
    """An archive member would escape the target directory or is a device/special file."""

    default_hint = "Do not install or extract this artifact; it may be malicious."


class SizeLimitExceeded(InvalidArtifact):
    """Decompressed or uploaded data is larger than the configured bound (zip/zstd bombs)."""

    default_hint = "Raise the limit only if you trust the source of this artifact."
    http_status = 413


class HashMismatch(StockyardError):
    """A file's hash does not match the expected value."""

    default_hint = "The file was corrupted in transit or replaced; fetch it again."


class NotFound(StockyardError):
    """A channel, package, token or file does not exist (or is not visible to the caller)."""

    http_status = 404


class Conflict(StockyardError):
    """The thing exists already (an upload without force, a channel name taken)."""

    http_status = 409


class Unauthorized(StockyardError):
    """Missing or invalid credentials."""

    default_hint = "Pass a token with X-API-Key, Authorization: Bearer, or the /t/<token>/ prefix."
    http_status = 401


class Forbidden(StockyardError):
    """Valid credentials without the needed scope."""

    default_hint = "Create a token with the needed scope: stockyard token create --scope write."
    http_status = 403


class ConfigError(StockyardError):
    """The settings file or environment holds an invalid value."""

    default_hint = "Check the settings file and the STOCKYARD_* environment variables."


class LockTimeout(StockyardError):
    """Another process holds the channel lock."""

    default_hint = "Another indexer or server is publishing this channel; wait and retry."
    http_status = 503
