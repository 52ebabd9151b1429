"""The errors a proxy channel answers with."""

from __future__ import annotations

from stockyard.types.errors import StockyardError


class ProxyUnavailable(StockyardError):
    """No upstream could give what was asked, and nothing usable is cached."""

    default_hint = (
        "Every upstream of this proxy channel failed (down, an error, a timeout, or content that "
        "did not verify); retry later, or ask the operator to check the upstreams."
    )
    http_status = 502
