"""What the browser tests share: Debian's Chromium, the flags it needs on this closed network,
where screenshots go, and the admin token from a server's banner."""

from __future__ import annotations

import re
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
#: Without the background-networking flags Chromium keeps trying hosts this machine cannot reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts"


def admin_token(banner: str) -> str:
    match = re.search(r"\b(sy-[A-Za-z0-9]{40})\b", banner)
    assert match, banner
    return match.group(1)
