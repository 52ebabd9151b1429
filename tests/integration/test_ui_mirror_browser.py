"""A mirrored channel's sync status on its page, in a real browser (Debian's Chromium, headless,
Playwright) against a real `stockyard serve` with two scheduled mirrors (one syncing, one whose
upstream has no repodata) and a channel `stockyard mirror --server-channel` published into
once: upstream, last sync and its result, counts, the error; a plain channel shows none. The
same status is in `GET /api/channels/{c}/mirror`. No console errors (the CSP holds)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.integration.browser import ARTIFACTS_DIR, CHROMIUM, admin_token, browser_page
from tests.mirror.upstreams import static_server
from tests.proxy.upstream_setup import static_upstream_root
from tests.server.live import live_server, stockyard

pytestmark = pytest.mark.integration


def _settled(url: str, channel: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while True:
        status = httpx.get(f"{url}/api/channels/{channel}/mirror")
        if status.status_code == 200 and status.json()["state"] in ("ok", "failed"):
            return status.json()
        assert time.monotonic() < deadline, status.text
        time.sleep(0.3)


def test_mirror_status_in_a_browser(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import expect

    root = static_upstream_root(tmp_path, shards=True)
    data = tmp_path / "data"
    with static_server(root) as origin:
        for name in ("once", "plain"):
            assert stockyard("channel", "create", name, "--data", str(data)).returncode == 0
        once = stockyard(
            "mirror", origin.url, "--server-channel", "once", "--data", str(data), "-s", "noarch"
        )
        assert once.returncode == 0, once.stderr
        config = tmp_path / "stockyard.toml"
        config.write_text(
            f'[[mirrors]]\nchannel = "cfm"\nupstream = "{origin.url}"\nevery = "1h"\n'
            'include = ["native"]\nwith_dependencies = true\n\n'
            f'[[mirrors]]\nchannel = "broken"\nupstream = "{origin.url}/nothing"\n'
            'every = "1h"\nsubdirs = ["noarch"]\n'
        )
        with live_server(data, "--config", str(config)) as live:
            assert _settled(live.url, "cfm")["last_result"]["added"] == 4
            assert _settled(live.url, "broken")["state"] == "failed"
            api = httpx.get(f"{live.url}/api/channels/once/mirror").json()
            assert (api["scheduled"], api["state"], api["upstream"]) == (False, "ok", origin.url)
            assert api["last_result"]["added"] == api["last_result"]["selected"] == 6
            token = admin_token(live.banner)
            with browser_page() as (page, problems):
                page.goto(f"{live.url}/t/{token}/ui/cfm")
                section = page.get_by_role("region", name="Mirror")
                expect(section).to_be_visible()
                expect(section.locator(".mirror-upstream")).to_have_text(origin.url)
                expect(section.locator(".status")).to_have_text("ok")
                expect(section.get_by_text("Next sync")).to_be_visible()
                expect(section.locator("time").first).to_be_visible()
                expect(section.locator(".mirror-result")).to_contain_text("4 added")
                expect(section.locator(".mirror-result")).to_contain_text("4 selected")
                expect(section.locator(".mirror-error")).to_have_count(0)
                page.screenshot(path=str(ARTIFACTS_DIR / "ui-mirror-ok.png"), full_page=True)

                page.goto(f"{live.url}/ui/broken")
                section = page.get_by_role("region", name="Mirror")
                expect(section.locator(".status")).to_have_text("failed")
                expect(section.locator(".mirror-error")).to_contain_text("no repodata")
                expect(section.get_by_text("Last success")).to_be_visible()
                page.screenshot(path=str(ARTIFACTS_DIR / "ui-mirror-failed.png"), full_page=True)

                page.goto(f"{live.url}/ui/once")
                section = page.get_by_role("region", name="Mirror")
                expect(section.locator(".status")).to_have_text("ok")
                expect(section.locator(".mirror-result")).to_contain_text("6 added")
                expect(section).to_contain_text("--server-channel")
                expect(section.get_by_text("Next sync")).to_have_count(0)

                page.goto(f"{live.url}/ui/plain")
                expect(page.get_by_role("heading", level=1)).to_contain_text("plain")
                expect(page.get_by_role("region", name="Mirror")).to_have_count(0)
                assert problems == []
