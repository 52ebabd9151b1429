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

from stockyard.catalog.browse import spec_name
from stockyard.config import load_settings
from stockyard.package.create import write_artifact
from stockyard.server.app import create_app
from stockyard.server.channels import bootstrap, create_channel
from stockyard.server.ui import package_page, routes
from stockyard.server.ui.templating import datetime_ms, filesize, first_text, iso_ms, text, web_url
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.uploading import quetz_upload

BASE = "http://127.0.0.1:8000"
SCRIPT_SRC = r"/ui/static/copy\.js\?v=[0-9a-f]{16}"


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
        #: The `src` of every script element ("" for an inline script).
        self.scripts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs).get("src") or "")
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
    """The SQL prefilters decode entries and records differently on PostgreSQL (bytea is not
    text), and `used_by` reads channeldata's version with PostgreSQL's JSON functions."""
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
            # The package page's queries (JSON in bytea: used_by, names_present).
            for path in (
                make_artifact(art, "gamma", depends=["alpha >=1", "beta_x"]),
                make_artifact(art, "delta", depends=["alphabet"]),
            ):
                _upload(client, "main", path, token)
            html = client.get("/ui/main/alpha").text
            assert _section(html, "used-by").hrefs == ["/ui/main/gamma"]
            assert _section(client.get("/ui/main/beta_x").text, "used-by").hrefs == [
                "/ui/main/gamma"
            ]
            gamma = client.get("/ui/main/gamma").text
            assert '<a href="/ui/main/alpha"><code>alpha &gt;=1</code></a>' in gamma
            assert "share/gamma/gamma.txt" in _section(gamma, "files").visible
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
    monkeypatch.setattr(package_page, "VERSIONS_PER_PAGE", 2)
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
        # Only the UI's own script file, nothing inline.
        assert all(re.fullmatch(SCRIPT_SRC, src) for src in page.scripts), url
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


def test_pages_allow_only_their_own_script_and_forbid_framing(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/ui/")
    policy = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no eval, no hosts
    assert directives["form-action"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["require-trusted-types-for"] == ["'script'"]
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
    assert web_url('https://example.org/"onmouseover=x') is None
    assert web_url("https://example.org/a b") is None
    assert first_text(["", " https://a.example ", "https://b.example"]) == "https://a.example"
    assert first_text("x") == "x" and first_text([1, None]) == "" and first_text(None) == ""


# --- package details: files, dependency links, used by, run_exports, links, commands ------------


def _artifact(  # type: ignore[no-untyped-def]
    dest: Path,
    name: str,
    version: str = "1.0",
    build: str = "0",
    *,
    subdir: str = "noarch",
    payload: dict[str, bytes] | None = None,
    extra: dict[str, bytes] | None = None,
    paths_json: bool = True,
    fmt: str = "conda",
    **index_extra,
) -> Path:
    """An artifact with exactly these payload files and extra info/ members."""
    payload = {f"share/{name}/README": b"hello\n"} if payload is None else payload
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": [],
        "license": "MIT",
        "subdir": subdir,
        "timestamp": 1_700_000_000_000,
        **({"noarch": "generic"} if subdir == "noarch" else {}),
        **index_extra,
    }
    entries = [
        {
            "_path": path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_in_bytes": len(data),
        }
        for path, data in sorted(payload.items())
    ]
    members = {
        "info/index.json": json.dumps(index).encode(),
        "info/about.json": json.dumps({"summary": f"{name} for tests"}).encode(),
        "info/files": "".join(f"{p}\n" for p in sorted(payload)).encode(),
        **payload,
        **(extra or {}),
    }
    if paths_json:
        members["info/paths.json"] = json.dumps({"paths_version": 1, "paths": entries}).encode()
    path = dest / f"{name}-{version}-{build}.{fmt}"
    dest.mkdir(parents=True, exist_ok=True)
    write_artifact(path, members, zstd_level=3, fsync=False)
    return path


def _section(html: str, section_id: str) -> _Page:
    """The visible text and links of one `<section id=...>` of a page."""
    start = html.index(f'id="{section_id}"')
    return _Page(html[start : html.index("</section>", start)])


def test_files_of_the_default_and_a_chosen_build(client, demo) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/ui/main/demo").text
    files = _section(html, "files")
    # The first build of the latest version (subdirs in order: linux-64 first).
    assert "Files in linux-64/demo-1.10-h1234_3.conda" in files.visible
    size = len(b"demo 1.10 h1234_3\n")  # make_artifact's one payload file
    assert f"1 file, {size} B in all." in files.visible
    assert f"share/demo/demo.txt {size} B" in files.visible
    # Every other build links to its own list, keeping the page.
    chosen = "/ui/main/demo?files=noarch%2Fdemo-1.9-0.conda#files"
    assert chosen in _Page(html).hrefs
    other = _section(
        client.get("/ui/main/demo", params={"files": "noarch/demo-1.9-0.conda"}).text, "files"
    )
    assert "Files in noarch/demo-1.9-0.conda" in other.visible
    assert "share/demo/demo.txt 11 B" in other.visible  # "demo 1.9 0\n"
    # A `files` naming no build of this package shows the default, and says so (escaped).
    odd = client.get("/ui/main/demo", params={"files": "noarch/<b>json-tools-0.3-0.conda"}).text
    assert "<b>json" not in odd
    assert (
        "This package has no file noarch/<b>json-tools-0.3-0.conda"
        in _section(odd, "files").visible
    )
    assert "Files in linux-64/demo-1.10-h1234_3.conda" in _section(odd, "files").visible


def test_files_are_listed_up_to_a_bound_with_the_count(client, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    payload = {f"lib/many/file{i:04d}.txt": b"x" * (i % 7) for i in range(1005)}
    _upload(client, "main", _artifact(tmp_path, "many", payload=payload), write_token)
    html = client.get("/ui/main/many").text
    files = _section(html, "files")
    total = sum(len(data) for data in payload.values())
    assert f"1,005 files, {filesize(total)} in all; the first 1,000 are listed." in files.visible
    assert len(re.findall(r"<tr><td><code>lib/many/", html)) == 1000
    assert "lib/many/file0999.txt" in files.visible and "lib/many/file1000.txt" not in html


def test_files_of_a_tar_bz2_and_of_a_package_without_paths_json(  # type: ignore[no-untyped-def]
    client, write_token, tmp_path: Path
) -> None:
    _upload(client, "main", make_artifact(tmp_path, "old", "1.0", fmt="tar.bz2"), write_token)
    old = _section(client.get("/ui/main/old").text, "files")
    assert "share/old/old.txt 10 B" in old.visible  # "old 1.0 0\n"
    legacy = _artifact(tmp_path, "legacy", payload={"bin/tool": b"#!/bin/sh\n"}, paths_json=False)
    _upload(client, "main", legacy, write_token)
    files = _section(client.get("/ui/main/legacy").text, "files")
    assert "1 file." in files.visible and "bin/tool" in files.visible


def test_unreadable_artifact_shows_no_file_list(client, settings, demo) -> None:  # type: ignore[no-untyped-def]
    from tests.server.conftest import channel_dir

    artifact = channel_dir(settings, "main") / "noarch" / "demo-1.0-0.conda"
    artifact.write_bytes(b"not a zip")  # the page must survive a damaged store
    response = client.get("/ui/main/demo", params={"files": "noarch/demo-1.0-0.conda"})
    assert response.status_code == 200
    assert "The file list of this build cannot be read." in _section(response.text, "files").visible


def test_dependencies_link_to_packages_of_the_channel(
    client, demo, write_token, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    for name in ("numpy", "scipy"):
        _upload(client, "main", make_artifact(tmp_path, name, "1.0"), write_token)
    html = client.get("/ui/main/demo").text
    # numpy and scipy are in the channel: links; python and libgcc are not: text.
    assert '<a href="/ui/main/numpy"><code>numpy &gt;=1.21,&lt;2</code></a>' in html
    assert '<a href="/ui/main/scipy"><code>scipy &lt;2</code></a>' in html  # a constraint
    assert "<li><code>python &gt;=3.8</code></li>" in html
    assert "<li><code>libgcc &gt;=13</code></li>" in html
    assert "/ui/main/python" not in _Page(html).hrefs


def test_dependency_links_keep_the_url_token(  # type: ignore[no-untyped-def]
    client, private_channel, private_write_token, private_read_token, tmp_path: Path
) -> None:
    for path in (
        make_artifact(tmp_path, "base", "1.0"),
        make_artifact(tmp_path, "top", "1.0", depends=["base >=1"]),
    ):
        _upload(client, "secret", path, private_write_token)
    token = private_read_token
    page = _Page(client.get(f"/t/{token}/ui/secret/top").text)
    assert f"/t/{token}/ui/secret/base" in page.hrefs
    used_by = _section(client.get(f"/t/{token}/ui/secret/base").text, "used-by")
    assert f"/t/{token}/ui/secret/top" in used_by.hrefs


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("numpy", "numpy"),
        ("numpy >=1.21,<2", "numpy"),
        ("numpy>=1.21", "numpy"),
        ("numpy=1.2", "numpy"),
        ("numpy==1.2.3", "numpy"),
        ("numpy!=1.0", "numpy"),
        ("numpy~=1.2", "numpy"),
        ("numpy 1.2 py39_0", "numpy"),
        ("numpy[version='>=1']", "numpy"),
        ("conda-forge::numpy >=1", "numpy"),
        ("conda-forge/linux-64::numpy", "numpy"),
        ("python_abi 3.11.* *_cp311", "python_abi"),
        ("  NumPy  ", "numpy"),
        ("__glibc >=2.17", "__glibc"),
        ("*", None),
        ("", None),
        (3, None),
    ],
)
def test_spec_name(spec: object, name: str | None) -> None:
    assert spec_name(spec) == name


def test_used_by(client, demo, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    art = tmp_path / "users"
    for path in (
        make_artifact(art, "app", "1.0", depends=["demo >=1.9"]),
        make_artifact(art, "app", "2.0", depends=["demo >=1.10", "python"]),
        make_artifact(art, "bracketed", "1.0", depends=["conda-forge::demo[version='>=1']"]),
        make_artifact(art, "linux-only", "1.0", "h0_0", subdir="linux-64", depends=["demo"]),
        # Its old version depended on demo, the latest does not.
        make_artifact(art, "dropped", "1.0", depends=["demo"]),
        make_artifact(art, "dropped", "2.0", depends=["python"]),
        # Names that only look alike, and a constraint.
        make_artifact(art, "alike", "1.0", depends=["demo-extras", "demos", "pydemo"]),
        make_artifact(art, "constrainer", "1.0", index_overrides={"constrains": ["demo <2"]}),
        make_artifact(art, "underscored", "1.0", depends=["zlib_ng"]),
    ):
        _upload(client, "main", path, write_token)
    used_by = _section(client.get("/ui/main/demo").text, "used-by")
    assert "Used by 3" in used_by.visible
    assert used_by.hrefs == ["/ui/main/app", "/ui/main/bracketed", "/ui/main/linux-only"]
    # `_` is not a LIKE wildcard; a package is not its own user.
    assert _section(client.get("/ui/main/zlib_ng").text, "used-by").hrefs == [
        "/ui/main/underscored"
    ]
    assert (
        "No other package of this channel depends on app"
        in _section(client.get("/ui/main/app").text, "used-by").visible
    )


def test_used_by_follows_the_patched_record(
    client, catalog, main_channel, demo, write_token, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A patch that removes the dependency removes the user (the published record counts)."""
    from sqlalchemy import update

    from stockyard.catalog.schema import artifacts

    _upload(client, "main", make_artifact(tmp_path, "app", "1.0", depends=["demo"]), write_token)
    assert _section(client.get("/ui/main/demo").text, "used-by").hrefs == ["/ui/main/app"]
    record = dict(catalog.package_artifacts(main_channel.id, "app")[0].record)
    record["depends"] = ["python"]
    with catalog.engine.begin() as conn:
        conn.execute(
            update(artifacts)
            .where(artifacts.c.channel_id == main_channel.id, artifacts.c.name == "app")
            .values(patched=json.dumps(record).encode())
        )
    assert _section(client.get("/ui/main/demo").text, "used-by").hrefs == []


def test_run_exports_of_the_latest_builds(client, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    weak = {"weak": ["libfoo >=1.2,<2.0a0"]}
    both = {"weak": ["libfoo >=1.2,<2.0a0"], "strong_constrains": ["__glibc >=2.17"]}
    for path in (
        _artifact(
            tmp_path,
            "libfoo",
            "1.1",
            extra={"info/run_exports.json": json.dumps({"weak": ["libfoo >=1.1,<2.0a0"]}).encode()},
        ),
        _artifact(
            tmp_path,
            "libfoo",
            "1.2",
            "h1_0",
            subdir="linux-64",
            extra={"info/run_exports.json": json.dumps(both).encode()},
        ),
        _artifact(
            tmp_path,
            "libfoo",
            "1.2",
            "h2_0",
            subdir="osx-64",
            extra={"info/run_exports.json": json.dumps(weak).encode()},
        ),
        _artifact(
            tmp_path,
            "libfoo",
            "1.2",
            "h3_0",
            subdir="win-64",
            extra={"info/run_exports.json": json.dumps(weak).encode()},
        ),
        _artifact(tmp_path, "plain", "1.0"),
    ):
        _upload(client, "main", path, write_token)
    html = client.get("/ui/main/libfoo").text
    section = _section(html, "run-exports")
    assert "Run exports of 1.2" in section.visible
    # Identical run_exports are grouped; the older version's are not shown.
    assert (
        "linux-64/h1_0 weak libfoo >=1.2,<2.0a0 strong_constrains __glibc >=2.17 "
        "osx-64/h2_0, win-64/h3_0 weak libfoo >=1.2,<2.0a0"
    ) in section.visible
    assert ">=1.1" not in section.visible
    # Specs link to packages of the channel.
    assert section.hrefs == ["/ui/main/libfoo"] * 2
    plain = _section(client.get("/ui/main/plain").text, "run-exports")
    assert "The latest builds export nothing" in plain.visible


def test_project_links(client, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    about = {
        "summary": "Linked",
        "home": "https://example.org/home",
        "dev_url": "https://github.com/example/linked",
        "doc_url": "http://docs.example.org/",
        "source_url": ["https://example.org/linked-1.0.tar.gz", "https://mirror.example/x"],
    }
    _upload(client, "main", _artifact_with_about(tmp_path, "linked", "1.0", about), write_token)
    html = client.get("/ui/main/linked").text
    page = _Page(html)
    assert (
        "Home https://example.org/home Documentation http://docs.example.org/ "
        "Development https://github.com/example/linked Source https://example.org/linked-1.0.tar.gz"
    ) in page.visible
    for url in (
        "https://example.org/home",
        "https://github.com/example/linked",
        "http://docs.example.org/",
        "https://example.org/linked-1.0.tar.gz",
    ):
        assert url in page.hrefs
    assert 'rel="nofollow noopener noreferrer"' in html


def test_hostile_project_links_stay_text(client, write_token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    about = {
        "home": "javascript:alert(1)",
        "doc_url": "data:text/html,<script>alert(2)</script>",
        "dev_url": 'https://example.org/"><script>alert(3)</script>',
        "source_url": " JaVaScRiPt:alert(4)",
    }
    _upload(client, "main", _artifact_with_about(tmp_path, "hostile", "1.0", about), write_token)
    html = client.get("/ui/main/hostile").text
    page = _Page(html)
    assert all(re.fullmatch(SCRIPT_SRC, src) for src in page.scripts)
    links = [h for h in page.hrefs if not h.startswith("data:image/svg+xml,")]  # the favicon
    assert not any(h.strip().lower().startswith(("javascript:", "data:")) for h in links)
    assert not any("example.org" in h for h in page.hrefs)  # `"` and `<` are no URL characters
    assert "Home javascript:alert(1)" in page.visible
    assert "Source JaVaScRiPt:alert(4)" in page.visible
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "<script>alert" not in html


def test_install_commands_for_every_client(client, demo) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/ui/main/demo").text
    install = _section(html, "install-heading")
    assert (
        f"conda conda install -c {BASE}/main demo Copy "
        f"mamba mamba install -c {BASE}/main demo Copy "
        f"micromamba micromamba install -c {BASE}/main demo Copy "
        f"pixi pixi workspace channel add {BASE}/main pixi add demo Copy"
    ) in install.visible
    # A copy button per command, hidden until the script shows it; the script is a file.
    assert html.count('<button type="button" class="copy" hidden') == html.count(
        '<div class="command">'
    )
    (src,) = _Page(html).scripts
    assert re.fullmatch(SCRIPT_SRC, src)


def test_install_commands_of_a_private_channel(client, secret_pkg, private_read_token) -> None:  # type: ignore[no-untyped-def]
    token = private_read_token
    install = _section(client.get(f"/t/{token}/ui/secret/hidden").text, "install-heading")
    for client_name in ("conda", "mamba", "micromamba"):
        assert f"{client_name} install -c {BASE}/t/<TOKEN>/secret hidden" in install.visible
    assert f"pixi workspace channel add {BASE}/t/<TOKEN>/secret" in install.visible
    assert token not in install.visible


def test_copy_script(client) -> None:  # type: ignore[no-untyped-def]
    (src,) = _Page(client.get("/ui/").text).scripts
    response = client.get(src)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "navigator.clipboard" in response.text
    assert "innerHTML" not in response.text and "eval(" not in response.text
    assert "immutable" in response.headers["cache-control"]
    assert client.get(src, headers={"If-None-Match": response.headers["etag"]}).status_code == 304


# --- token management -------------------------------------------------------------------------


@pytest.fixture
def tokens(catalog, main_channel, private_channel):  # type: ignore[no-untyped-def]
    """A read token of `secret`, a write token of `main` with a hostile description."""
    read = catalog.create_token(scope="read", channel=private_channel, description="ci reader")
    write = catalog.create_token(
        scope="write", channel=main_channel, description="<script>alert(1)</script>"
    )
    return read, write


def _status(catalog, token_id: int) -> str:  # type: ignore[no-untyped-def]
    return catalog.resolve_token(str(token_id)).status()


def test_token_page_lists_tokens_for_admins(client, admin_token, tokens) -> None:  # type: ignore[no-untyped-def]
    read, write = tokens
    for response in (
        client.get(f"/t/{admin_token}/ui/-/tokens"),
        client.get("/ui/-/tokens", headers={"X-API-Key": admin_token}),
    ):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, no-store"
        page = _Page(response.text)
        assert f"{read.info.prefix} read secret ci reader active" in page.visible
        assert f"{write.info.prefix} write main <script>alert(1)</script> active" in page.visible
        assert "admin all channels created by stockyard serve active" in page.visible
        assert "<script>alert(1)" not in response.text
        for secret in (read.token, write.token):
            assert secret not in response.text
    # The URL token is kept in links, never printed.
    page = _Page(client.get(f"/t/{admin_token}/ui/-/tokens").text)
    assert admin_token not in page.visible
    assert f"/t/{admin_token}/ui/-/tokens/revoke" in page.hrefs  # the form's action
    # Admins see the way to this page in the header; others do not.
    assert f"/t/{admin_token}/ui/-/tokens" in _Page(client.get(f"/t/{admin_token}/ui/").text).hrefs
    assert "Tokens" not in _Page(client.get("/ui/").text).visible


def test_token_page_needs_a_server_wide_admin(client, catalog, main_channel, tokens) -> None:  # type: ignore[no-untyped-def]
    read, write = tokens
    channel_admin = catalog.create_token(scope="admin", channel=main_channel).token
    for token in (None, read.token, write.token, channel_admin, "sy-notatoken000000"):
        path = f"/t/{token}/ui/-/tokens" if token else "/ui/-/tokens"
        response = client.get(path)
        assert response.status_code == 403, token
        assert "needs a server-wide admin token" in _Page(response.text).visible
        assert "ci reader" not in response.text and "<form" not in response.text


def test_a_channel_named_tokens_keeps_its_page(client, settings, catalog) -> None:  # type: ignore[no-untyped-def]
    create_channel(settings, catalog, "tokens")
    response = client.get("/ui/tokens")
    assert response.status_code == 200
    assert "This channel has no packages yet." in _Page(response.text).visible


def _revoke(client, token_id, *, admin: str | None, path_token: str | None = None, headers=None):  # type: ignore[no-untyped-def]
    form = {"token_id": str(token_id)}
    if admin is not None:
        form["admin_token"] = admin
    prefix = f"/t/{path_token}" if path_token else ""
    return client.post(
        f"{prefix}/ui/-/tokens/revoke",
        data=form,
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "null", **(headers or {})},
        follow_redirects=False,
    )


def test_revoke_with_the_admin_token_in_the_form(client, catalog, admin_token, tokens) -> None:  # type: ignore[no-untyped-def]
    read, _ = tokens
    assert client.get(f"/t/{read.token}/ui/secret").status_code == 200
    response = _revoke(client, read.info.id, admin=admin_token, path_token=admin_token)
    assert response.status_code == 303
    assert response.headers["location"] == f"/t/{admin_token}/ui/-/tokens?revoked={read.info.id}"
    assert _status(catalog, read.info.id) == "revoked"
    # At once: the revoked token no longer opens the private channel.
    assert client.get(f"/t/{read.token}/ui/secret").status_code == 404
    page = _Page(client.get(response.headers["location"]).text)
    assert f"Token {read.info.prefix} is revoked." in page.visible
    assert f"{read.info.prefix} read secret ci reader revoked" in page.visible


def test_revoke_with_an_x_api_key_header(client, catalog, admin_token, tokens) -> None:  # type: ignore[no-untyped-def]
    _, write = tokens
    response = _revoke(client, write.info.id, admin=None, headers={"X-API-Key": admin_token})
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/-/tokens?revoked={write.info.id}"
    assert _status(catalog, write.info.id) == "revoked"


def test_revoke_refuses_credentials_a_browser_sends_by_itself(  # type: ignore[no-untyped-def]
    client, catalog, admin_token, tokens
) -> None:
    read, write = tokens
    basic = base64.b64encode(f"admin:{admin_token}".encode()).decode()
    refused = [
        # The URL token alone, cached Basic credentials, a Bearer header: not enough.
        _revoke(client, read.info.id, admin=None, path_token=admin_token),
        _revoke(client, read.info.id, admin=None, headers={"Authorization": f"Basic {basic}"}),
        _revoke(
            client, read.info.id, admin=None, headers={"Authorization": f"Bearer {admin_token}"}
        ),
        # Tokens that are not a server-wide admin.
        _revoke(client, read.info.id, admin=write.token),
        _revoke(client, read.info.id, admin=read.token),
        _revoke(client, read.info.id, admin="sy-notatoken000000"),
        _revoke(client, read.info.id, admin=""),
    ]
    for response in refused:
        assert response.status_code == 403
        assert "Revoking needs a server-wide admin token" in _Page(response.text).visible
    assert _status(catalog, read.info.id) == "active"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1:8000.evil.example"},
        {"Origin": "http://["},
    ],
)
def test_revoke_refuses_other_sites(client, catalog, admin_token, tokens, headers) -> None:  # type: ignore[no-untyped-def]
    read, _ = tokens
    response = _revoke(client, read.info.id, admin=admin_token, headers=headers)
    assert response.status_code == 403
    assert "only from this site's own page" in _Page(response.text).visible
    assert _status(catalog, read.info.id) == "active"


def test_revoke_accepts_this_sites_origin(client, catalog, admin_token, tokens) -> None:  # type: ignore[no-untyped-def]
    read, write = tokens
    ok = _revoke(client, read.info.id, admin=admin_token, headers={"Origin": "http://testserver"})
    assert ok.status_code == 303
    public = _revoke(client, write.info.id, admin=admin_token, headers={"Origin": BASE})
    assert public.status_code == 303


def test_revoke_checks_the_form(client, catalog, admin_token, tokens) -> None:  # type: ignore[no-untyped-def]
    read, _ = tokens
    # A prefix or the token itself is not an id: nothing is revoked by a guess.
    for ref in (read.info.prefix, read.token, "", "1 OR 1=1", "²"):
        response = _revoke(client, ref, admin=admin_token)
        assert response.status_code == 400, ref
        assert "Choose the token to revoke." in _Page(response.text).visible
    assert _revoke(client, 999999, admin=admin_token).status_code == 404
    oversized = client.post(
        "/ui/-/tokens/revoke",
        data={"token_id": str(read.info.id), "admin_token": admin_token, "pad": "x" * 5000},
    )
    assert oversized.status_code == 400
    as_json = client.post(
        "/ui/-/tokens/revoke", json={"token_id": read.info.id, "admin_token": admin_token}
    )
    assert as_json.status_code == 400
    assert _status(catalog, read.info.id) == "active"
    assert client.get("/ui/-/tokens/revoke").status_code == 404  # GET is not a way to revoke


def test_package_page_shows_which_patch_rule_changed_which_field(  # type: ignore[no-untyped-def]
    client, admin_token, tmp_path: Path
) -> None:
    path = make_artifact(tmp_path / "art", "patchme", "1.0", depends=["python"])
    _upload(client, "main", path, admin_token)
    rules = b"if:\n  name: patchme\nthen:\n  - add_depends: extra-dep\n"
    response = client.put(
        "/api/channels/main/patches", content=rules, headers={"X-API-Key": admin_token}
    )
    assert response.status_code == 201, response.text
    page = _Page(client.get("/ui/main/patchme").text)
    assert "Patches of noarch/patchme-1.0-0.conda" in page.visible
    assert '["python"]' in page.visible and '["python", "extra-dep"]' in page.visible
    assert "patch set v1: patches.yaml, document 0" in page.visible
    assert "/.stockyard/" not in page.visible  # server paths stay private
    unpatched = make_artifact(tmp_path / "art", "plainpkg", "1.0")
    _upload(client, "main", unpatched, admin_token)
    assert "Patches of" not in _Page(client.get("/ui/main/plainpkg").text).visible
