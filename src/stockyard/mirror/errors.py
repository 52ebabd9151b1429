"""The errors a mirror run raises: each says what is wrong and what to do."""

from __future__ import annotations

from stockyard.types.errors import StockyardError


class UpstreamError(StockyardError):
    """The upstream channel cannot be read, or what it serves is not a valid channel."""

    default_hint = (
        "Check the upstream URL and that it serves a conda channel; nothing was published, "
        "and the next run starts over from what this one verified."
    )
    http_status = 502


class DownloadFailed(StockyardError):
    """Artifacts could not be downloaded or did not verify; nothing was published."""

    default_hint = (
        "Run the mirror again: verified downloads are kept and not fetched again. If an "
        "artifact keeps failing, report it to the upstream's owner or leave it out with "
        "--exclude."
    )
    http_status = 502


class FilterError(StockyardError):
    """A filter option (MatchSpec, license id, date) cannot be parsed."""

    default_hint = "See docs/howto-mirror.md for the filter language."
