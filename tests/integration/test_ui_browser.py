"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright, against a
real `stockyard serve`. Keeps a full-page screenshot of a package page in test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.browser import ARTIFACTS_DIR, CHROMIUM, CHROMIUM_ARGS, admin_token
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import LiveServer, live_server

pytestmark = pytest.mark.integration

SCREENSHOT = ARTIFACTS_DIR / "ui-package-page.png"


def _upload(server: LiveServer, channel: str, path: Path, token: str) -> None:
    response = httpx.post(
        f"{server.url}/api/channels/{channel}/upload/{path.name}",
        params={"sha256": sha256_of(path)},
        content=path.read_bytes(),
        headers={"X-API-Key": token},
        timeout=60,
    )
    assert response.status_code == 201, response.text


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    with live_server(tmp_path / "data") as live:
        token = admin_token(live.banner)
        art = tmp_path / "artifacts"
        uploads = [
            make_artifact(art, "demo", "0.9", "0", depends=["python >=3.8"]),
            make_artifact(
                art,
                "demo",
                "1.10",
                "0",
                depends=["python >=3.8", "numpy >=1.21,<2", "requests"],
                summary="Demonstrates the Stockyard web UI",
                index_overrides={"constrains": ["scipy <2"]},
            ),
            make_artifact(
                art,
                "demo",
                "1.10",
                "h60d57d3_1",
                subdir="linux-64",
                depends=["libgcc >=13", "libzlib >=1.3.1,<2.0a0"],
                summary="Demonstrates the Stockyard web UI",
            ),
            make_artifact(art, "json-tools", "0.3", "0", summary="Fast JSON parser"),
            make_artifact(art, "zlib-ng", "2.1.6", "0", summary="zlib for the next generation"),
        ]
        for path in uploads:
            _upload(live, "main", path, token)
        yield live, token


def test_browse_channel_search_and_package(server: tuple[LiveServer, str]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import expect, sync_playwright

    live, admin = server
    # A private channel with one package, and a read token for it.
    created = httpx.post(
        f"{live.url}/api/channels",
        json={"name": "team", "private": True},
        headers={"X-API-Key": admin},
    )
    assert created.status_code == 201, created.text
    secret = make_artifact(live.data_dir.parent / "team-art", "inhouse", "2.0", summary="Ours")
    _upload(live, "team", secret, admin)
    read = httpx.post(
        f"{live.url}/api/tokens",
        json={"scope": "read", "channel": "team"},
        headers={"X-API-Key": admin},
    ).json()["token"]

    ARTIFACTS_DIR.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(live.data_dir.parent / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))

            # / -> /ui/: the channel list, without the private channel.
            page.goto(f"{live.url}/")
            assert page.url == f"{live.url}/ui/"
            expect(page.get_by_role("heading", level=1)).to_have_text("Channels")
            card = page.locator(".card", has_text="main")
            expect(card).to_contain_text("public")
            expect(card).to_contain_text(f"conda install -c {live.url}/main <package>")
            expect(page.locator("main")).not_to_contain_text("team")
            # The stylesheet is applied (CSP allows it): the header is not transparent.
            header_bg = page.eval_on_selector(
                "header.site", "e => getComputedStyle(e).backgroundColor"
            )
            assert header_bg not in ("rgba(0, 0, 0, 0)", "transparent")
            page.screenshot(path=str(ARTIFACTS_DIR / "ui-channel-list.png"), full_page=True)

            # Channel page.
            page.get_by_role("link", name="main", exact=True).first.click()
            assert page.url == f"{live.url}/ui/main"
            expect(page.get_by_role("heading", level=1)).to_contain_text("main")
            expect(page.locator(".chips")).to_contain_text("linux-64 1 package")
            expect(page.locator(".chips")).to_contain_text("noarch 3 packages")
            rows = page.locator("table.packages tbody tr")
            expect(rows).to_have_count(3)
            expect(rows.first).to_contain_text("demo")
            expect(rows.first).to_contain_text("1.10")
            page.screenshot(path=str(ARTIFACTS_DIR / "ui-channel-page.png"), full_page=True)

            # Search by summary.
            page.get_by_label("Search by name or summary").fill("json PARSER")
            page.get_by_role("button", name="Search").click()
            expect(page.locator(".result-count")).to_have_text("1 package matching “json PARSER”")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("json-tools")
            page.get_by_role("link", name="Clear").click()
            expect(rows).to_have_count(3)

            # Package page.
            page.get_by_role("link", name="demo", exact=True).click()
            assert page.url == f"{live.url}/ui/main/demo"
            expect(page.locator("details.version h3")).to_have_text(["1.10", "0.9"])
            newest = page.locator("details.version").first
            expect(newest).to_have_attribute("open", "")
            expect(newest).to_contain_text("h60d57d3_1")
            expect(newest).to_contain_text("libzlib >=1.3.1,<2.0a0")
            expect(newest).to_contain_text("scipy <2")
            expect(newest).to_contain_text(f"conda install -c {live.url}/main demo=1.10")
            older = page.locator("details.version").nth(1)
            expect(older.locator("article.build")).to_be_hidden()
            older.locator("summary").click()
            expect(older.locator("article.build")).to_be_visible()
            download = newest.get_by_role("link", name="demo-1.10-h60d57d3_1.conda")
            href = download.get_attribute("href")
            assert href == "/main/linux-64/demo-1.10-h60d57d3_1.conda"
            fetched = page.request.get(f"{live.url}{href}")
            assert fetched.ok and len(fetched.body()) > 0
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            # No script errors, no resource refused by the CSP, nothing missing (favicon).
            assert problems == []

            # A private channel: a 404 page for anonymous visitors, browsable with a token.
            missing = page.goto(f"{live.url}/ui/team")
            assert missing is not None and missing.status == 404
            expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
            page.goto(f"{live.url}/t/{read}/ui/")
            page.get_by_role("link", name="team", exact=True).first.click()
            assert page.url == f"{live.url}/t/{read}/ui/team"
            page.get_by_role("link", name="inhouse").click()
            expect(page.locator("main")).to_contain_text("Ours")
            expect(page.locator("main")).to_contain_text(f"{live.url}/t/<TOKEN>/team")
            assert read not in page.locator("body").inner_text()

        finally:
            context.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_api_docs_render_without_internet(server: tuple[LiveServer, str]) -> None:
    """/api/docs loads Swagger UI from the server itself: the page is not blank offline (every
    request outside 127.0.0.1 is refused here)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import expect, sync_playwright

    live, _ = server
    html = httpx.get(f"{live.url}/api/docs").text
    assert "cdn" not in html and "https://" not in html
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            outside: list[str] = []
            page.route(
                re.compile(r"^(?!http://127\.0\.0\.1).*"),
                lambda route: (outside.append(route.request.url), route.abort()),
            )
            page.goto(f"{live.url}/api/docs")
            expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
            assert page.locator(".opblock").count() > 5
            assert outside == []
        finally:
            browser.close()
