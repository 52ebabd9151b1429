"""What the browser tests share: Debian's Chromium, the flags it needs on this closed network,
where screenshots go, and the admin token from a server's banner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


@contextmanager
def browser_page() -> Iterator[tuple[Any, list[str]]]:
    """A page (1280x900) of a fresh headless Chromium, and the list its console errors and page
    errors are collected in (tests assert it stays empty: the CSP holds). The screenshot
    folder exists; the browser is closed afterwards."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS_DIR.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            yield page, problems
        finally:
            browser.close()
