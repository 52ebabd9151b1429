"""The nginx front renderer: what it serves statically, with which headers, and `nginx -t`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stockyard.cdn.keys import surrogate_key_header
from stockyard.config import load_settings
from stockyard.deploy.nginx import (
    CACHE_URI_PATTERNS,
    MEDIA_TYPES,
    NginxFront,
    app_address,
    nginx_front_for,
    render_nginx,
    render_nginx_main,
)
from stockyard.server.channels import (
    RESERVED_CHANNEL_NAMES,
    bootstrap,
    create_channel,
    open_catalog,
)
from stockyard.server.http_files import cache_control, media_type
from stockyard.types.errors import ConfigError
from tests.deploy.nginx_live import NGINX, nginx_check, worker_user
from tests.server.live import stockyard

KEYS = [
    "noarch/repodata.json",
    "noarch/repodata.json.zst",
    "noarch/repodata.json.gz",
    "noarch/current_repodata.json",
    "noarch/repodata_shards.msgpack.zst",
    "noarch/shards/" + "ab" * 32 + ".msgpack.zst",
    "linux-64/shards/" + "0f" * 32 + ".msgpack.zst",
    "noarch/shards/notahash.msgpack.zst",
    "channeldata.json",
    "index.html",
    "noarch/index.html",
    "noarch/run_exports.json",
    "noarch/alpha-1.0-0.conda",
    "linux-64/beta-2.0-h1_0.tar.bz2",
    "noarch/alpha-1.0-0.conda.attestation.json",
    "icons/" + "cd" * 32 + ".png",
    "noarch/icons/x.png",
    "notes.txt",
]


def _settings(tmp_path: Path, **overrides):  # type: ignore[no-untyped-def]
    return load_settings(env={}, overrides={"data_dir": str(tmp_path / "data"), **overrides})


def _data_dir(settings, private=("secret",)) -> None:  # type: ignore[no-untyped-def]
    """A bootstrapped data directory: public `main`, the private channels, public/ links."""
    bootstrap(settings, reindex=False)
    catalog = open_catalog(settings)
    try:
        for name in private:
            create_channel(settings, catalog, name, private=True)
    finally:
        catalog.close()


def _front(tmp_path: Path, **kw) -> NginxFront:  # type: ignore[no-untyped-def]
    defaults = {
        "public_dir": tmp_path / "data" / "public",
        "channels_dir": tmp_path / "data" / "channels",
        "app": "127.0.0.1:8000",
    }
    return NginxFront(**{**defaults, **kw})


def test_front_serves_the_public_tree(tmp_path: Path) -> None:
    settings = _settings(tmp_path, repodata_max_age=45, max_upload_bytes="100MiB")
    _data_dir(settings)
    front = nginx_front_for(settings, listen="127.0.0.1:9000")
    text = render_nginx(front)
    data = settings.data_path.resolve()
    # One root for every public channel: the links Stockyard keeps; no channel is named.
    assert f'root "{data / "public"}";' in text
    assert (data / "public" / "main").is_symlink()
    assert not (data / "public" / "secret").exists()
    assert "main" not in text and "secret" not in text
    assert "listen 127.0.0.1:9000;" in text
    assert "server 127.0.0.1:8000;" in text
    # The app's Cache-Control values, including the configured max-age.
    assert 'default "public, max-age=45";' in text
    assert '"public, max-age=31536000, immutable"' in text  # shards and icons
    assert '"public, max-age=45, must-revalidate"' in text  # artifacts (force can replace them)
    # Upload limit (plus multipart fields) and unbuffered uploads.
    assert "client_max_body_size 105m;" in text
    assert "proxy_request_buffering off;" in text
    for directive in ("sendfile on;", "gzip on;", "gzip_types application/json;", "gzip_vary on;"):
        assert directive in text
    assert "internal;" not in text  # no accel_redirect configured


def test_accel_redirect_location(tmp_path: Path) -> None:
    settings = _settings(tmp_path, accel_redirect="/_files/")
    _data_dir(settings)
    text = render_nginx(nginx_front_for(settings))
    block = text.split("location ^~ /_files/ {", 1)[1].split("}", 1)[0]
    assert "internal;" in block
    assert f'alias "{settings.data_path.resolve() / "channels"}/";' in block


def test_app_paths_go_straight_to_the_app(tmp_path: Path) -> None:
    text = render_nginx(_front(tmp_path))
    pattern = re.search(r'location ~ "(\^/\(\?:[^"]*)" \{', text)
    assert pattern
    for name in RESERVED_CHANNEL_NAMES:
        assert re.search(pattern.group(1), f"/{name}/x") or re.search(pattern.group(1), f"/{name}")
    assert re.search(pattern.group(1), "/t/sy-abc/secret/noarch/repodata.json")
    for path in ("/main/noarch/repodata.json", "/team/x", "/tea", "/apis/x", "/uix"):
        assert not re.search(pattern.group(1), path), path


def test_app_defaults_to_the_servers_own_address(tmp_path: Path) -> None:
    settings = _settings(tmp_path, host="0.0.0.0", port=8123)
    _data_dir(settings)
    assert nginx_front_for(settings).app == "127.0.0.1:8123"
    assert nginx_front_for(settings, app="http://[::1]:9001").app == "[::1]:9001"


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:8000", "http://127.0.0.1:8000/prefix", "ftp://x", "http://:80"]
)
def test_bad_app_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        app_address(url)


@pytest.mark.parametrize("listen", ["eighty", "127.0.0.1:80; evil", "1:2:3"])
def test_bad_listen(tmp_path: Path, listen: str) -> None:
    settings = _settings(tmp_path)
    _data_dir(settings)
    with pytest.raises(ConfigError):
        nginx_front_for(settings, listen=listen)


def test_no_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no Stockyard data directory"):
        nginx_front_for(_settings(tmp_path))


def test_unsafe_data_dir_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "a b")
    _data_dir(settings, private=())
    with pytest.raises(ConfigError, match="nginx would misread"):
        nginx_front_for(settings)


def _map_entries(text: str) -> tuple[str, list[tuple[str, str]]]:
    block = re.search(r"map \$uri \$stockyard_cache_control \{\n(.*?)\n\}", text, re.S)
    assert block
    default = ""
    entries = []
    for line in block.group(1).splitlines():
        line = line.strip().rstrip(";")
        if line.startswith("default "):
            default = line[len("default ") :].strip('"')
            continue
        pattern, value = re.match(r'"~(.*)" "(.*)"', line).groups()  # type: ignore[union-attr]
        entries.append((pattern, value))
    return default, entries


@pytest.mark.parametrize("key", KEYS)
def test_cache_control_map_agrees_with_the_app(tmp_path: Path, key: str) -> None:
    """nginx tests map regexes in order; PCRE and Python agree on these simple patterns."""
    default, entries = _map_entries(render_nginx(_front(tmp_path)))
    uri = f"/main/{key}"
    chosen = next((value for pattern, value in entries if re.search(pattern, uri)), default)
    assert chosen == cache_control(key, max_age=60, private=False)


def test_cache_patterns_are_all_rendered(tmp_path: Path) -> None:
    _, entries = _map_entries(render_nginx(_front(tmp_path)))
    assert [pattern for pattern, _ in entries] == [pattern for pattern, _ in CACHE_URI_PATTERNS]


@pytest.mark.parametrize("key", KEYS)
def test_content_types_agree_with_the_app(key: str) -> None:
    suffix = key.rsplit(".", 1)[-1]
    nginx_type = dict((s, kind) for kind, s in MEDIA_TYPES).get(suffix, "application/octet-stream")
    if nginx_type in {"text/html", "text/plain"}:
        nginx_type += "; charset=utf-8"  # `charset utf-8` applies to these two
    assert nginx_type == media_type(key)


def test_methods_other_than_get_head_go_to_the_app(tmp_path: Path) -> None:
    text = render_nginx(_front(tmp_path))
    channel_block = text.split("    location / {", 1)[1].split("\n    }", 1)[0]
    assert "if ($request_method !~ ^(?:GET|HEAD)$)" in channel_block
    assert "return 418;" in channel_block
    # A missing file (404) and another method (418) are answered by the app.
    assert "error_page 403 404 418 = @app;" in channel_block
    assert "add_header Cache-Control $stockyard_cache_control;" in channel_block
    assert r"location ~ /\. {" in text


needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


@needs_nginx
def test_nginx_accepts_the_generated_config(tmp_path: Path) -> None:
    settings = _settings(tmp_path, accel_redirect="/_stockyard_files/")
    _data_dir(settings)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    front = nginx_front_for(settings, listen="127.0.0.1:18080")
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx_main(front, prefix=prefix, user=worker_user()))
    result = nginx_check(conf, prefix)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr


@needs_nginx
def test_nginx_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check above could fail: a config nginx refuses is reported as such."""
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    text = render_nginx_main(_front(tmp_path), prefix=prefix, user=worker_user())
    conf.write_text(text.replace("keepalive 32;", "keepalive;"))
    assert nginx_check(conf, prefix).returncode != 0


def test_cli_prints_and_writes_the_config(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _data_dir(settings)
    data = str(settings.data_path)
    printed = stockyard("deploy", "nginx", "--data", data, "--listen", "9090")
    assert printed.returncode == 0, printed.stderr
    assert "listen 9090;" in printed.stdout and "public" in printed.stdout
    target = tmp_path / "stockyard.conf"
    written = stockyard(
        "deploy", "nginx", "--data", data, "--app", "http://127.0.0.1:9999", "-o", str(target)
    )
    assert written.returncode == 0, written.stderr
    assert "server 127.0.0.1:9999;" in target.read_text()
    standalone = stockyard("deploy", "nginx", "--data", data, "--standalone", str(tmp_path))
    assert standalone.returncode == 0
    assert standalone.stdout.count("http {") == 1 and f"pid {tmp_path}" in standalone.stdout


def test_cli_error_without_a_catalog(tmp_path: Path) -> None:
    result = stockyard("deploy", "nginx", "--data", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert "no Stockyard data directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_tls_certificate_and_listen_flags(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _data_dir(settings, private=())
    front = nginx_front_for(
        settings,
        listen="443 http2",
        ssl_certificate=Path("/etc/ssl/conda.pem"),
        ssl_certificate_key=Path("/etc/ssl/conda.key"),
    )
    text = render_nginx(front)
    assert "listen 443 http2 ssl;" in text
    # With TLS, HTTP/2 is on even when not asked for (CEP 16 SHOULD, for shards).
    plain = nginx_front_for(
        settings,
        listen="443",
        ssl_certificate=Path("/etc/ssl/conda.pem"),
        ssl_certificate_key=Path("/etc/ssl/conda.key"),
    )
    assert "listen 443 ssl http2;" in render_nginx(plain)
    assert 'ssl_certificate "/etc/ssl/conda.pem";' in text
    assert 'ssl_certificate_key "/etc/ssl/conda.key";' in text
    with pytest.raises(ConfigError, match="both"):
        nginx_front_for(settings, ssl_certificate=Path("/etc/ssl/conda.pem"))


def test_precompressed_json_is_sent_as_published(tmp_path: Path) -> None:
    text = render_nginx(_front(tmp_path))
    assert "gzip_static on;" in text
    assert "gzip on;" in text  # JSON without a published .gz is still compressed on the fly


def test_artifacts_live_a_year_when_a_purge_is_wired(tmp_path: Path) -> None:
    settings = _settings(tmp_path, purge_webhook_url="https://purger.internal/purge")
    _data_dir(settings)
    default, entries = _map_entries(render_nginx(nginx_front_for(settings)))
    for key in KEYS:
        chosen = next((v for p, v in entries if re.search(p, f"/main/{key}")), default)
        expected = cache_control(key, max_age=60, private=False, purged=True)
        assert chosen == expected, key
    assert '"public, max-age=31536000"' in render_nginx(nginx_front_for(settings))


def _surrogate_entries(text: str) -> list[tuple[str, str]]:
    block = re.search(r"map \$uri \$stockyard_surrogate_key \{\n(.*?)\n\}", text, re.S)
    assert block
    entries = []
    for line in block.group(1).splitlines():
        line = line.strip().rstrip(";")
        if line.startswith("default "):
            continue
        pattern, value = re.match(r'"~(.*)" "(.*)"', line).groups()  # type: ignore[union-attr]
        entries.append((pattern, value))
    return entries


@pytest.mark.parametrize(
    "uri",
    [f"/main/{key}" for key in KEYS]
    + [
        "/main/label/rc/noarch/repodata.json",
        "/main/label/rc/channeldata.json",
        "/main/label/rc/linux-64/beta-2.0-h1_0.tar.bz2",
        "/main/label/rc/noarch/shards/" + "ab" * 32 + ".msgpack.zst",
        "/main/snapshots/s1/noarch/repodata.json",
        "/main/as-of/2024-01-01/noarch/repodata.json",
        "/team-x/osx-arm64/repodata.json",
    ],
)
def test_surrogate_key_map_agrees_with_the_app(tmp_path: Path, uri: str) -> None:
    """nginx tests map regexes in order and fills `$name` from named captures."""
    entries = _surrogate_entries(render_nginx(_front(tmp_path)))
    found = next(((re.search(p, uri), v) for p, v in entries if re.search(p, uri)), None)
    chosen = ""
    if found is not None:
        match, value = found
        assert match is not None
        chosen = re.sub(r"\$(sy_\w+)", lambda name: match.group(name.group(1)), value)
    channel, key = uri[1:].split("/", 1)
    assert chosen == surrogate_key_header(channel, key)


def test_surrogate_key_header_is_added_to_files(tmp_path: Path) -> None:
    text = render_nginx(_front(tmp_path))
    channel_block = text.split("    location / {", 1)[1].split("\n    }", 1)[0]
    assert "add_header Surrogate-Key $stockyard_surrogate_key;" in channel_block
