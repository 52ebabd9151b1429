"""The package page's details and the token page in a real browser: Debian's Chromium,
headless, driven by Playwright, against a real `stockyard serve`.

Checks what a visitor sees (files, dependency links, used by, run_exports, project links,
install commands), that the copy button copies under the page's strict CSP, that the page
works with JavaScript off, and that revoking a token through the form works in a browser (which
sends `Origin: null` under `Referrer-Policy: no-referrer`). Keeps a full-page screenshot in
test-artifacts/ui-package-details.png.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stockyard.package.create import write_artifact
from tests.integration.browser import ARTIFACTS_DIR, CHROMIUM, CHROMIUM_ARGS, admin_token
from tests.server.artifacts import sha256_of
from tests.server.live import LiveServer, live_server

pytestmark = pytest.mark.integration

SCREENSHOT = ARTIFACTS_DIR / "ui-package-details.png"


def _artifact(  # type: ignore[no-untyped-def]
    dest: Path,
    name: str,
    version: str,
    build: str = "0",
    *,
    subdir: str = "noarch",
    depends: tuple[str, ...] = (),
    files: dict[str, bytes] | None = None,
    about: dict | None = None,
    run_exports: dict | None = None,
    **index_extra,
) -> Path:
    files = files if files is not None else {f"share/{name}/README.md": b"# " + name.encode()}
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": list(depends),
        "license": "BSD-3-Clause",
        "subdir": subdir,
        "timestamp": 1_700_000_000_000,
        **({"noarch": "generic"} if subdir == "noarch" else {"platform": "linux", "arch": "64"}),
        **index_extra,
    }
    paths = [
        {
            "_path": path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_in_bytes": len(data),
        }
        for path, data in sorted(files.items())
    ]
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps({"paths_version": 1, "paths": paths}).encode(),
        "info/about.json": json.dumps(about or {"summary": f"The {name} package"}).encode(),
        "info/files": "".join(f"{p}\n" for p in sorted(files)).encode(),
        **files,
    }
    if run_exports is not None:
        members["info/run_exports.json"] = json.dumps(run_exports).encode()
    path = dest / f"{name}-{version}-{build}.conda"
    dest.mkdir(parents=True, exist_ok=True)
    write_artifact(path, members, zstd_level=3, fsync=False)
    return path


def _upload(server: LiveServer, path: Path, token: str) -> None:
    response = httpx.post(
        f"{server.url}/api/channels/main/upload/{path.name}",
        params={"sha256": sha256_of(path)},
        content=path.read_bytes(),
        headers={"X-API-Key": token},
        timeout=60,
    )
    assert response.status_code == 201, response.text


DEMO_FILES = {
    "lib/python3.12/site-packages/demo/__init__.py": b"__version__ = '2.1.0'\n",
    "lib/python3.12/site-packages/demo/core.py": b"def run():\n    return 42\n" * 50,
    "lib/python3.12/site-packages/demo/py.typed": b"",
    "bin/demo": b"#!/usr/bin/env python\nfrom demo.core import run\nrun()\n",
    "share/doc/demo/README.md": b"# demo\n" + b"Demonstrates the package page.\n" * 100,
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    with live_server(tmp_path / "data") as live:
        token = admin_token(live.banner)
        art = tmp_path / "artifacts"
        about = {
            "summary": "Demonstrates the package details of the Stockyard web UI",
            "description": "A package with files, dependencies, users and run_exports.",
            "home": "https://example.org/demo",
            "dev_url": "https://github.com/example/demo",
            "doc_url": "https://demo.example.org/docs/",
            "source_url": "https://example.org/demo-2.1.0.tar.gz",
            "license": "BSD-3-Clause",
        }
        uploads = [
            _artifact(art, "libdemo", "1.2.0", "h1_0", subdir="linux-64"),
            _artifact(
                art,
                "demo",
                "2.0.0",
                "h2_0",
                subdir="linux-64",
                depends=("libdemo >=1.2,<2.0a0",),
            ),
            _artifact(
                art,
                "demo",
                "2.1.0",
                "h3_0",
                subdir="linux-64",
                depends=("libdemo >=1.2,<2.0a0", "python >=3.12", "__glibc >=2.17"),
                constrains=["demo-plugins >=2"],
                files=DEMO_FILES,
                about=about,
                run_exports={"weak": ["demo >=2.1,<3.0a0"]},
            ),
            _artifact(art, "app", "1.0", depends=("demo >=2.1",)),
            _artifact(art, "demo-cli", "0.5", depends=("demo",)),
            _artifact(art, "demo-plugins", "2.0", depends=("python",)),
        ]
        for path in uploads:
            _upload(live, path, token)
        yield live, token


def _launch(playwright, profile: Path, **options):  # type: ignore[no-untyped-def]
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1280, "height": 900},
        **options,
    )


def _label(page, client: str):  # type: ignore[no-untyped-def]
    return page.locator(".command-label", has_text=re.compile(f"^{client}$"))


def test_package_details_and_copy_button(server: tuple[LiveServer, str]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import expect, sync_playwright

    live, _ = server
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = _launch(
            playwright,
            live.data_dir.parent / "chromium-profile",
            permissions=["clipboard-read", "clipboard-write"],
        )
        try:
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{live.url}/ui/main/demo")
            expect(page.get_by_role("heading", level=1)).to_contain_text("demo")
            expect(page.get_by_role("heading", level=1)).to_contain_text("2.1.0")

            # Project links: http(s) only, each a link.
            for label, url in (
                ("Home", "https://example.org/demo"),
                ("Documentation", "https://demo.example.org/docs/"),
                ("Development", "https://github.com/example/demo"),
                ("Source", "https://example.org/demo-2.1.0.tar.gz"),
            ):
                fact = page.locator(".project-link", has_text=label)
                expect(fact.get_by_role("link", name=url)).to_have_attribute("href", url)

            # Install commands for four clients, each with a copy button the script revealed.
            install = page.locator("section.install")
            commands = install.locator(".command")
            expect(commands).to_have_count(4)
            base = f"{live.url}/main"
            for client, text in (
                ("conda", f"conda install -c {base} demo"),
                ("mamba", f"mamba install -c {base} demo"),
                ("micromamba", f"micromamba install -c {base} demo"),
                ("pixi", f"pixi workspace channel add {base}\npixi add demo"),
            ):
                command = commands.filter(has=_label(page, client))
                expect(command.locator("code")).to_have_text(text)
                expect(
                    command.get_by_role("button", name=f"Copy the {client} command")
                ).to_be_visible()

            # Run exports of the latest build; used by; dependency links.
            expect(page.locator("#run-exports")).to_contain_text("linux-64/h3_0")
            expect(page.locator("#run-exports")).to_contain_text("weak")
            expect(page.locator("#run-exports")).to_contain_text("demo >=2.1,<3.0a0")
            used_by = page.locator("#used-by")
            expect(used_by.get_by_role("heading")).to_contain_text("Used by 2")
            expect(used_by.get_by_role("link")).to_have_text(["app", "demo-cli"])
            newest = page.locator("details.version").first
            expect(newest.get_by_role("link", name="libdemo >=1.2,<2.0a0")).to_have_attribute(
                "href", "/ui/main/libdemo"
            )
            expect(newest.get_by_role("link", name="demo-plugins >=2")).to_be_visible()
            # Not in the channel: text, not a link.
            expect(newest.locator(".specs li", has_text="python >=3.12")).to_be_visible()
            expect(newest.get_by_role("link", name="python >=3.12")).to_have_count(0)

            # The files of the latest build.
            files = page.locator("#files")
            expect(files).to_contain_text("Files in linux-64/demo-2.1.0-h3_0.conda")
            expect(files).to_contain_text("5 files")
            rows = files.locator("tbody tr")
            expect(rows).to_have_count(5)
            expect(rows.first).to_contain_text("bin/demo")
            expect(files.locator("tr", has_text="core.py")).to_contain_text("1.2 KiB")

            # Copy: the button says so, and the clipboard holds the command.
            micromamba = commands.filter(has=_label(page, "micromamba"))
            button = micromamba.get_by_role("button")
            button.click()
            expect(button).to_have_text("Copied")
            expect(button).to_have_attribute("data-state", "copied")
            copied = page.evaluate("navigator.clipboard.readText()")
            assert copied == f"micromamba install -c {base} demo"
            expect(button).to_have_text("Copy", timeout=5000)  # and back

            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # Another build's files, through its link; a dependency link leads to its page.
            older = page.locator("details.version").nth(1)
            older.locator("summary").click()
            older.get_by_role("link", name="show files").click()
            expect(files).to_contain_text("Files in linux-64/demo-2.0.0-h2_0.conda")
            assert page.url.endswith("?files=linux-64%2Fdemo-2.0.0-h2_0.conda#files")
            newest.get_by_role("link", name="libdemo >=1.2,<2.0a0").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("libdemo")
            expect(page.locator("#used-by").get_by_role("link")).to_have_text(["demo"])
            # No script errors, nothing refused by the CSP.
            assert problems == []
        finally:
            context.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_package_page_without_javascript(server: tuple[LiveServer, str]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import expect, sync_playwright

    live, _ = server
    with sync_playwright() as playwright:
        context = _launch(
            playwright, live.data_dir.parent / "chromium-nojs", java_script_enabled=False
        )
        try:
            page = context.new_page()
            page.goto(f"{live.url}/ui/main/demo")
            commands = page.locator("section.install .command")
            expect(commands).to_have_count(4)
            expect(commands.first.locator("code")).to_be_visible()
            # Without the script there is no button that does nothing.
            expect(page.locator("button.copy").first).to_be_hidden()
            expect(page.locator("#files tbody tr")).to_have_count(5)
            expect(page.locator("#used-by").get_by_role("link")).to_have_count(2)
        finally:
            context.close()


def test_revoke_a_token_in_the_browser(server: tuple[LiveServer, str]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    from playwright.sync_api import expect, sync_playwright

    live, admin = server
    created = httpx.post(
        f"{live.url}/api/tokens",
        json={"scope": "write", "channel": "main", "description": "ci uploads"},
        headers={"X-API-Key": admin},
    ).json()
    prefix, doomed = created["prefix"], created["token"]
    with sync_playwright() as playwright:
        context = _launch(playwright, live.data_dir.parent / "chromium-tokens")
        try:
            page = context.new_page()
            page.goto(f"{live.url}/t/{admin}/ui/")
            page.get_by_role("link", name="Tokens").first.click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Tokens")
            row = page.locator("table.tokens tbody tr", has_text=prefix)
            expect(row).to_contain_text("write")
            expect(row).to_contain_text("ci uploads")
            expect(row).to_contain_text("active")
            # Without the admin token typed in, the browser does not send the form.
            row.get_by_role("radio").check()
            page.get_by_role("button", name="Revoke").click()
            assert page.url == f"{live.url}/t/{admin}/ui/-/tokens"
            # A wrong token: refused, nothing revoked.
            page.get_by_label("Admin token").fill(doomed)
            page.get_by_role("button", name="Revoke").click()
            expect(page.get_by_role("alert")).to_contain_text("needs a server-wide admin token")
            row = page.locator("table.tokens tbody tr", has_text=prefix)
            expect(row).to_contain_text("active")
            # The admin token: revoked, and the list says so.
            row.get_by_role("radio").check()
            page.get_by_label("Admin token").fill(admin)
            page.get_by_role("button", name="Revoke").click()
            expect(page.get_by_role("status")).to_contain_text(f"Token {prefix} is revoked.")
            expect(page.locator("table.tokens tbody tr", has_text=prefix)).to_contain_text(
                "revoked"
            )
            page.screenshot(path=str(ARTIFACTS_DIR / "ui-tokens.png"), full_page=True)
        finally:
            context.close()
    refused = httpx.post(
        f"{live.url}/api/channels/main/upload/x-1.0-0.conda",
        params={"sha256": "0" * 64},
        content=b"x",
        headers={"X-API-Key": doomed},
    )
    assert refused.status_code == 401
