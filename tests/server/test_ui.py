"""The web UI: pages rendered from real uploads, search, private channels, escaping, 404s."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stockyard.config import load_settings
from stockyard.package.create import write_artifact
from stockyard.server.app import create_app
from stockyard.server.channels import bootstrap, create_channel
from stockyard.server.ui import routes
from stockyard.server.ui.templating import datetime_ms, filesize, iso_ms, text, web_url
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.uploading import quetz_upload

BASE = "http://127.0.0.1:8000"


def _upload(client, channel: str, path: Path, token: str) -> None:  # type: ignore[no-untyped-def]
    response = quetz_upload(client, channel, path, token)
    assert response.status_code == 201, response.text


def _artifact_with_about(dest: Path, name: str, version: str, about: dict, **index_extra) -> Path:  # type: ignore[no-untyped-def]
    """A noarch artifact whose info/about.json is exactly `about` (make_artifact only sets the
    summary and license)."""
    index = {
        "name": name,
        "version": version,
        "build": "0",
        "build_number": 0,
        "depends": [],
        "license": about.get("license", "MIT"),
        "subdir": "noarch",
        "noarch": "generic",
        "timestamp": 1_700_000_000_000,
        **index_extra,
    }
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps({"paths_version": 1, "paths": []}).encode(),
        "info/about.json": json.dumps(about).encode(),
        "info/files": b"",
    }
    path = dest / f"{name}-{version}-0.conda"
    dest.mkdir(parents=True, exist_ok=True)
    write_artifact(path, members, zstd_level=3, fsync=False)
    return path


class _Page(HTMLParser):
    """Text, links and other attribute values of a page (to see where a string appears)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.hrefs: list[str] = []
        self.other_attributes: list[str] = []
        self.scripts = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for key, value in attrs:
            (self.hrefs if key in {"href", "action"} else self.other_attributes).append(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture
def demo(client, write_token, tmp_path: Path) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """`demo` in three noarch versions and one linux-64 build, plus two more packages."""
    art = tmp_path / "artifacts"
    files = {
        "1.0": make_artifact(art, "demo", "1.0", "0", depends=["python >=3.8"]),
        "1.9": make_artifact(art, "demo", "1.9", "0", depends=["python >=3.8"]),
        "1.10-noarch": make_artifact(
            art,
            "demo",
            "1.10",
            "0",
            depends=["python >=3.8", "numpy >=1.21,<2"],
            summary="Demonstrates the web UI",
            index_overrides={"constrains": ["scipy <2"]},
        ),
        "1.10-linux": make_artifact(
            art,
            "demo",
            "1.10",
            "h1234_3",
            subdir="linux-64",
            depends=["libgcc >=13"],
            license="BSD-3-Clause",
            summary="Demonstrates the web UI",
        ),
        "json-tools": make_artifact(art, "json-tools", "0.3", "0", summary="Fast JSON parser"),
        "zlib_ng": make_artifact(art, "zlib_ng", "2.1", "0", summary="Zlib replacement"),
    }
    for path in files.values():
        _upload(client, "main", path, write_token)
    return files


# --- channel list -------------------------------------------------------------------------------


def test_root_redirects_to_the_channel_list(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/", follow_redirects=False)
    assert response.headers["location"] == "/ui/"
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"


def test_channel_list(client, demo, private_channel) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/ui/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = _Page(response.text)
    assert "/ui/main" in page.hrefs
    assert "main public Packages 3 Files 6 Last update" in page.visible
    assert f"Channel URL {BASE}/main" in page.visible
    assert f"conda install -c {BASE}/main <package>" in page.visible
    # The private channel does not exist for an anonymous visitor.
    assert "secret" not in response.text


@pytest.mark.parametrize("form", ["url", "x-api-key", "bearer", "basic"])
def test_channel_list_with_a_read_token(  # type: ignore[no-untyped-def]
    client, private_channel, private_read_token, form
) -> None:
    token = private_read_token
    if form == "url":
        response = client.get(f"/t/{token}/ui/")
    elif form == "x-api-key":
        response = client.get("/ui/", headers={"X-API-Key": token})
    elif form == "bearer":
        response = client.get("/ui/", headers={"Authorization": f"Bearer {token}"})
    else:
        basic = base64.b64encode(f"user:{token}".encode()).decode()
        response = client.get("/ui/", headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    page = _Page(response.text)
    assert "secret private" in page.visible
    # The conda URL of a private channel shows a placeholder, never the token.
    assert f"{BASE}/t/<TOKEN>/secret" in page.visible
    assert token not in page.visible
    assert response.headers["cache-control"] == "private, no-store"
    prefix = f"/t/{token}" if form == "url" else ""
    assert f"{prefix}/ui/secret" in page.hrefs


# --- channel page -------------------------------------------------------------------------------


def test_channel_page(client, demo) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/ui/main")
    assert response.status_code == 200
    page = _Page(response.text)
    assert "noarch 3 packages" in page.visible
    assert "linux-64 1 package " in page.visible
    # Latest version in conda order (1.10 > 1.9), with the summary of that version.
    assert "demo 1.10 Demonstrates the web UI" in page.visible
    assert "json-tools 0.3 Fast JSON parser MIT" in page.visible
    assert "3 packages" in page.visible
    assert "/ui/main/demo" in page.hrefs
    assert f"conda install -c {BASE}/main <package>" in page.visible


def _listed(response) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(r'<th scope="row"><a href="/ui/main/([^"]+)">', response.text)


SEARCHES = [
    ("demo", ["demo"]),
    ("DEMO", ["demo"]),
    ("json parser", ["json-tools"]),  # in the summary only, other case
    ("zlib", ["zlib_ng"]),  # name and summary
    ("_", ["zlib_ng"]),  # LIKE wildcards are literal
    ("%", []),
    ("web ui", ["demo"]),
    ("nothing-like-this", []),
    ("MIT", []),  # in the entry JSON (license) but neither name nor summary
]


def test_search_by_name_or_summary(client, demo) -> None:  # type: ignore[no-untyped-def]
    for query, expected in SEARCHES:
        response = client.get("/ui/main", params={"q": query})
        assert response.status_code == 200
        assert _listed(response) == expected, query
        count = len(expected)
        shown = _Page(response.text).visible
        assert f"{count} package{'' if count == 1 else 's'} matching “{query}”" in shown


def test_search_outside_the_sql_prefilter(client, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Queries JSON escapes or SQLite cannot case-fold are matched in Python."""
    art = tmp_path / "art"
    _upload(client, "main", make_artifact(art, "quoted", summary='The "best" tool'), write_token)
    _upload(client, "main", make_artifact(art, "umlaut", summary="Ärger über Öl"), write_token)
    assert _listed(client.get("/ui/main", params={"q": '"best"'})) == ["quoted"]
    assert _listed(client.get("/ui/main", params={"q": "äRGER"})) == ["umlaut"]
    assert _listed(client.get("/ui/main", params={"q": "ÜBER öl"})) == ["umlaut"]


def test_search_pages(client, demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    first = client.get("/ui/main")
    assert _listed(first) == ["demo", "json-tools"]
    assert "Page 1 of 2" in first.text
    assert 'href="/ui/main?page=2"' in first.text
    second = client.get("/ui/main", params={"page": 2})
    assert _listed(second) == ["zlib_ng"]
    assert 'href="/ui/main"' in second.text  # previous page
    # The query is kept across pages; odd page numbers fall back to the first page.
    searched = client.get("/ui/main", params={"q": "e"})
    assert _listed(searched) == ["demo", "json-tools"]
    assert 'href="/ui/main?q=e&amp;page=2"' in searched.text
    assert _listed(client.get("/ui/main", params={"page": "x"})) == ["demo", "json-tools"]
    assert _listed(client.get("/ui/main", params={"page": "-3"})) == ["demo", "json-tools"]


def test_empty_channel(client) -> None:  # type: ignore[no-untyped-def]
    page = _Page(client.get("/ui/main").text)
    assert "This channel has no packages yet." in page.visible
    assert "noarch 0 packages" in page.visible


@pytest.mark.postgres
def test_search_on_postgresql(tmp_path: Path) -> None:
    """The SQL prefilter decodes the entry differently on PostgreSQL (bytea is not text)."""
    pg_url = os.environ.get("STOCKYARD_TEST_PG_URL")
    if not pg_url:
        pytest.skip("STOCKYARD_TEST_PG_URL not set (scripts/test.sh starts PostgreSQL)")
    from sqlalchemy import create_engine, text

    name = f"stockyard_ui_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        settings = load_settings(
            env={},
            overrides={
                "data_dir": str(tmp_path / "data"),
                "db_url": f"{pg_url.rsplit('/', 1)[0]}/{name}",
            },
        )
        token = bootstrap(settings).admin_token
        assert token is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient
        with TestClient(create_app(settings)) as client:
            art = tmp_path / "art"
            for pkg, summary in [("alpha", "Fast JSON parser"), ("beta_x", "Ärger über Öl")]:
                _upload(client, "main", make_artifact(art, pkg, summary=summary), token)
            assert _listed(client.get("/ui/main", params={"q": "json PARSER"})) == ["alpha"]
            assert _listed(client.get("/ui/main", params={"q": "_"})) == ["beta_x"]
            assert _listed(client.get("/ui/main", params={"q": "ärger"})) == ["beta_x"]
            assert _listed(client.get("/ui/main", params={"q": "MIT"})) == []
            assert "noarch 2 packages" in _Page(client.get("/ui/main").text).visible
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- package page -------------------------------------------------------------------------------


def test_package_page(client, demo) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/ui/main/demo")
    assert response.status_code == 200
    html = response.text
    page = _Page(html)
    # Newest first, in conda version order (1.10 > 1.9 > 1.0, not string order).
    versions = re.findall(r"<h3>([^<]+)</h3>", html)
    assert versions == ["1.10", "1.9", "1.0"]
    assert "Demonstrates the web UI" in page.visible
    assert "Subdirs linux-64, noarch Versions 3 Files 4" in page.visible
    # Builds per subdir with their facts and dependencies.
    linux = demo["1.10-linux"]
    assert "linux-64 h1234_3 Build number 3" in page.visible
    assert f'title="{linux.stat().st_size} bytes"' in html
    assert sha256_of(linux) in page.visible
    assert "License BSD-3-Clause" in page.visible
    assert "Dependencies libgcc >=13 Constraints none" in page.visible
    assert "Dependencies python >=3.8 numpy >=1.21,<2 Constraints scipy <2" in page.visible
    assert re.search(r"Uploaded \d{4}-\d\d-\d\d \d\d:\d\d UTC", page.visible)
    # Install commands, for the package and for each version.
    assert f"conda install -c {BASE}/main demo" in page.visible
    assert f"conda install -c {BASE}/main demo=1.10" in page.visible
    assert f"conda install -c {BASE}/main demo=1.9" in page.visible
    assert f"pixi workspace channel add {BASE}/main pixi add demo=1.10" in page.visible
    # Download links point at this server and download the artifact.
    assert "/main/linux-64/demo-1.10-h1234_3.conda" in page.hrefs
    download = client.get("/main/linux-64/demo-1.10-h1234_3.conda")
    assert hashlib.sha256(download.content).hexdigest() == sha256_of(linux)


def test_package_page_versions_paginate(client, demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(routes, "VERSIONS_PER_PAGE", 2)
    first = client.get("/ui/main/demo").text
    assert re.findall(r"<h3>([^<]+)</h3>", first) == ["1.10", "1.9"]
    assert 'href="/ui/main/demo?page=2"' in first
    second = client.get("/ui/main/demo", params={"page": 2}).text
    assert re.findall(r"<h3>([^<]+)</h3>", second) == ["1.0"]
    # The summary and install commands are on every page.
    assert f"conda install -c {BASE}/main demo" in second


def test_pre_release_versions_sort_before_the_release(client, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for version in ["2.0", "2.0rc1", "2.0.post1", "10.0a1"]:
        _upload(client, "main", make_artifact(tmp_path, "pre", version), write_token)
    html = client.get("/ui/main/pre").text
    assert re.findall(r"<h3>([^<]+)</h3>", html) == ["10.0a1", "2.0.post1", "2.0", "2.0rc1"]


def test_description_and_links_from_about(client, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    about = {
        "summary": "Has an about",
        "description": "First paragraph.\n\nSecond paragraph.",
        "home": "https://example.org/about",
        "doc_url": "https://docs.example.org/",
        "license": "Apache-2.0",
    }
    _upload(client, "main", _artifact_with_about(tmp_path, "described", "1.0", about), write_token)
    html = client.get("/ui/main/described").text
    assert "First paragraph.\n\nSecond paragraph." in html
    page = _Page(html)
    assert "https://example.org/about" in page.hrefs
    assert "https://docs.example.org/" in page.hrefs
    assert "License Apache-2.0" in page.visible


# --- 404 pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/ui/nosuch", "Channel 'nosuch' does not exist."),
        ("/ui/main/nosuch", "Package 'nosuch' is not in channel 'main'."),
        ("/ui/main/demo/extra", "There is no such page."),
        ("/t/sy-invalidtoken123/ui/nosuch", "Channel 'nosuch' does not exist."),
    ],
)
def test_not_found_pages_are_html(client, path: str, message: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = _Page(response.text)
    assert message in page.visible
    assert "/ui/" in page.hrefs


def test_trailing_slash_redirects(client, demo) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/ui/main/demo/?page=1", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "/ui/main/demo?page=1"


# --- private channels ---------------------------------------------------------------------------


@pytest.fixture
def secret_pkg(client, private_channel, private_write_token, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = make_artifact(tmp_path / "secret", "hidden", "1.0", summary="Private stuff")
    _upload(client, "secret", path, private_write_token)
    return path


def test_private_channel_is_a_404_without_a_read_token(  # type: ignore[no-untyped-def]
    client, secret_pkg, write_token
) -> None:
    for headers in ({}, {"X-API-Key": write_token}, {"X-API-Key": "sy-notatoken000000"}):
        for path in ("/ui/secret", "/ui/secret/hidden"):
            response = client.get(path, headers=headers)
            assert response.status_code == 404, (path, headers)
            assert "Private stuff" not in response.text
    # Word for word what a channel that does not exist gets.
    hidden = client.get("/ui/secret").text
    absent = client.get("/ui/nosuch").text
    assert hidden.replace("secret", "X") == absent.replace("nosuch", "X")
    searched = client.get("/ui/main", params={"q": "hidden"})
    assert _listed(searched) == []
    assert "Private stuff" not in searched.text


def test_private_channel_with_a_token_in_the_url(  # type: ignore[no-untyped-def]
    client, secret_pkg, private_read_token
) -> None:
    token = private_read_token
    channel = client.get(f"/t/{token}/ui/secret")
    assert channel.status_code == 200
    assert f'href="/t/{token}/ui/secret/hidden"' in channel.text
    package = client.get(f"/t/{token}/ui/secret/hidden")
    assert package.status_code == 200
    page = _Page(package.text)
    assert "Private stuff" in page.visible
    assert f"conda install -c {BASE}/t/<TOKEN>/secret hidden=1.0" in page.visible
    # The token appears only inside this visitor's own links, never as text or elsewhere.
    assert token not in page.visible
    assert not any(token in value for value in page.other_attributes)
    assert all(
        h.startswith((f"/t/{token}/", "/ui/static/", "/api/", "#", "data:image/svg+xml,"))
        for h in page.hrefs
    )
    download = f"/t/{token}/secret/noarch/{secret_pkg.name}"
    assert download in page.hrefs
    assert hashlib.sha256(client.get(download).content).hexdigest() == sha256_of(secret_pkg)
    assert package.headers["cache-control"] == "private, no-store"
    assert package.headers["referrer-policy"] == "no-referrer"


def test_private_channel_with_a_header_token(client, secret_pkg, private_read_token) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/ui/secret/hidden", headers={"X-API-Key": private_read_token})
    assert response.status_code == 200
    # Links do not invent a URL token the visitor did not use.
    assert f"/secret/noarch/{secret_pkg.name}" in _Page(response.text).hrefs


def test_a_token_sees_only_its_channel(  # type: ignore[no-untyped-def]
    client, settings, catalog, secret_pkg, private_read_token
) -> None:
    create_channel(settings, catalog, "other-secret", private=True)
    listing = _Page(client.get(f"/t/{private_read_token}/ui/").text).visible
    assert "secret private" in listing
    assert "other-secret" not in listing
    assert client.get(f"/t/{private_read_token}/ui/other-secret").status_code == 404


def test_revocation_acts_at_once(client, catalog, private_channel, secret_pkg) -> None:  # type: ignore[no-untyped-def]
    created = catalog.create_token(scope="read", channel=private_channel)
    assert client.get(f"/t/{created.token}/ui/secret").status_code == 200
    catalog.revoke_token(str(created.info.id))
    assert client.get(f"/t/{created.token}/ui/secret").status_code == 404
    listing = client.get(f"/t/{created.token}/ui/")
    assert listing.status_code == 200
    page = _Page(listing.text)
    assert "unknown, expired or revoked" in page.visible
    assert "secret" not in page.visible.replace("main", "")
    # A rejected token is not carried into links.
    assert created.token not in listing.text


def test_admin_token_sees_every_channel(client, admin_token, private_channel) -> None:  # type: ignore[no-untyped-def]
    visible = _Page(client.get("/ui/", headers={"X-API-Key": admin_token}).text).visible
    assert "main public" in visible and "secret private" in visible


# --- hostile metadata ---------------------------------------------------------------------------


def test_hostile_metadata_is_escaped(client, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    about = {
        "summary": "<script>alert('summary')</script>",
        "description": '<img src=x onerror="alert(1)">',
        "home": "javascript:alert('home')",
        "dev_url": '"><svg onload=alert(1)>',
        "license": "<b>MIT</b>",
    }
    path = _artifact_with_about(
        tmp_path, "evil", "1.0", about, depends=["python <4"], constrains=["x >1,<2"]
    )
    _upload(client, "main", path, write_token)
    for url in ("/ui/main/evil", "/ui/main", "/ui/main?q=script"):
        html = client.get(url).text
        page = _Page(html)
        assert page.scripts == 0, url
        assert "<script>alert" not in html
        assert "<img" not in html and "<svg" not in html and "<b>MIT" not in html
        assert not any(h.lower().lstrip().startswith("javascript:") for h in page.hrefs)
    html = client.get("/ui/main/evil").text
    assert "&lt;script&gt;alert(&#39;summary&#39;)&lt;/script&gt;" in html
    visible = _Page(html).visible
    assert "javascript:alert('home')" in visible  # shown as text, not as a link
    assert "Dependencies python <4 Constraints x >1,<2" in visible
    # A hostile search query is echoed escaped.
    searched = client.get("/ui/main", params={"q": "<script>alert(2)</script>"}).text
    assert "<script>alert(2)" not in searched
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in searched


# --- headers, stylesheet, HEAD ------------------------------------------------------------------


def test_pages_forbid_scripts_and_framing(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/ui/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"


def test_stylesheet(client) -> None:  # type: ignore[no-untyped-def]
    page = _Page(client.get("/ui/").text)
    (href,) = [h for h in page.hrefs if "style.css" in h]
    assert re.fullmatch(r"/ui/static/style\.css\?v=[0-9a-f]{16}", href)
    response = client.get(href)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "--accent" in response.text
    assert "immutable" in response.headers["cache-control"]
    again = client.get(href, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_head_requests(client, demo) -> None:  # type: ignore[no-untyped-def]
    for path in ("/ui/", "/ui/main", "/ui/main/demo"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"


# --- template filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB")],
)
def test_filesize(size: int, shown: str) -> None:
    assert filesize(size) == shown


def test_filters_tolerate_odd_metadata() -> None:
    assert filesize(None) == ""
    assert datetime_ms(1_700_000_000_000) == "2023-11-14 22:13 UTC"
    assert iso_ms(1_700_000_000_000) == "2023-11-14T22:13:20Z"
    assert datetime_ms(10**30) == "" and datetime_ms("soon") == "" and datetime_ms(True) == ""
    assert text(["a list"]) == "" and text("  padded ") == "padded"
    assert web_url("https://example.org/x") == "https://example.org/x"
    assert web_url(" HTTP://Example.org ") == "HTTP://Example.org"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//example.org", "http://", 3, None):
        assert web_url(bad) is None
