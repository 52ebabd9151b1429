"""The documented nginx front of `stockyard serve`, rendered from the settings.

nginx serves the published files of every *public* channel straight from disk (repodata
variants, shard index and shards, channeldata, packages): sendfile, ranges, 304s and gzip for
JSON (`gzip_static`: the `repodata.json.gz`, `current_repodata.json.gz` and
`channeldata.json.gz` each publish writes next to its document are sent as they are; other JSON
is compressed on the fly), with the same Cache-Control, Content-Type and Surrogate-Key as the
app. Its root is `DATA/public/`, where
Stockyard keeps a link `<name> -> ../channels/<name>` for exactly the public channels, updated
when a channel is created or its visibility changes: so the configuration never lists channels
and never goes stale when one is made private.

Everything that needs a decision goes to the app: private channels (404 without a token),
`/t/<token>/...`, `/api`, `/ui`, uploads (streamed, unbuffered), `/health`, `/metrics`, any
method but GET/HEAD, and a missing file (the client gets the app's JSON 404 and falls back from
`.zst` or shards to `repodata.json`). With `accel_redirect` set, files the app has authorized
come back through an `internal` location, so nginx sends those bytes too.

The rendered text is an http-context snippet for `/etc/nginx/conf.d/`: a `map` choosing
Cache-Control, a `map` choosing Surrogate-Key, the app's `upstream`, one `server`.
`render_nginx_main` wraps it into a complete nginx.conf for a dedicated nginx (tests and
benchmarks run nginx this way). Regenerate it after changing the settings it is made from (data
directory, address, upload limit, max-age, accel_redirect, purge_webhook_url); channel changes
need nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from stockyard.config import Settings
from stockyard.types.errors import ConfigError

#: The upstream and map names the snippet defines (unique within nginx's http block).
UPSTREAM: Final = "stockyard_app"
CACHE_CONTROL_VAR: Final = "$stockyard_cache_control"
SURROGATE_KEY_VAR: Final = "$stockyard_surrogate_key"
MIB: Final = 1024 * 1024

#: URL paths (after the channel's prefix) whose Cache-Control differs from the default, each with
#: a key of that kind: the value is what `stockyard.server.http_files.cache_control` answers for
#: that key, as PCRE patterns over nginx's `$uri` (`/<channel>/<key>`). Content-addressed shards
#: and icons are immutable; artifacts (replaceable with force=true) must revalidate. Tested
#: against the app's function in tests/deploy.
CACHE_URI_PATTERNS: Final = (
    (r"/shards/[0-9a-f]{64}\.msgpack\.zst$", "noarch/shards/" + "0" * 64 + ".msgpack.zst"),
    (r"\.(?:conda|tar\.bz2)$", "noarch/x-1-0.conda"),
    (r"^/[^/]+/icons/.*\.png$", "icons/" + "0" * 64 + ".png"),
)

#: A channel in a URL: `<name>` or a label's `<name>/label/<label>` (stockyard.types.labels).
_CHANNEL_RE: Final = r"(?P<sy_channel>[^/]+(?:/label/[^/]+)?)"
#: (pattern, Surrogate-Key) over nginx's `$uri`, first match wins: what
#: `stockyard.cdn.keys.surrogate_key_header` answers (tested against it in tests/deploy).
#: Artifacts (and sidecars), shards, icons and snapshots; then a subdir's documents; then the
#: channel root's; then any other document.
SURROGATE_URI_PATTERNS: Final = (
    (
        rf"^/{_CHANNEL_RE}/(?:[^/]+/[^/]*\.(?:conda|tar\.bz2)[^/]*"
        r"|[^/]+/shards/[0-9a-f]{64}\.msgpack\.zst|icons/.*|snapshots/.*)$",
        "$sy_channel/files",
    ),
    (
        rf"^/{_CHANNEL_RE}/(?!as-of/)(?P<sy_subdir>noarch|[a-z0-9]+-[a-z0-9]+)/.*$",
        "$sy_channel $sy_channel/$sy_subdir",
    ),
    (rf"^/{_CHANNEL_RE}/[^/]*$", "$sy_channel $sy_channel/root"),
    (rf"^/{_CHANNEL_RE}/.*$", "$sy_channel"),
)

#: nginx `types` for published files: what the app's `media_type` answers. Everything else
#: (.zst, .msgpack.zst, .conda, .tar.bz2) is `default_type application/octet-stream`.
MEDIA_TYPES: Final = (
    ("application/json", "json"),
    ("text/html", "html"),
    ("text/plain", "txt"),
    ("image/png", "png"),
)

_listen_re = re.compile(
    r"^(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}"
    r"(?: (?:ssl|http2|default_server|reuseport|proxy_protocol))*$"
)
_server_name_re = re.compile(r"^[A-Za-z0-9.*_~^-]+(?: [A-Za-z0-9.*_~^-]+)*$")
#: Characters that would change the meaning of a path inside nginx's configuration language.
_unsafe_path_re = re.compile(r"[\"'$;{}\\\s#]")
_accel_re = re.compile(r"^/[A-Za-z0-9._~/-]*/$")


@dataclass(frozen=True, slots=True)
class NginxFront:
    """Everything the nginx front is rendered from."""

    #: Absolute `DATA/public` (links to the public channels): nginx's root.
    public_dir: Path
    #: Absolute `DATA/channels`: where `accel_location` points.
    channels_dir: Path
    #: `host:port` of `stockyard serve`.
    app: str
    #: nginx `listen` value: `8080`, `127.0.0.1:8080`, `[::]:8080`.
    listen: str = "8080"
    server_name: str = "_"
    #: Cache-Control values, as the app sends them for public channels.
    short_cache_control: str = "public, max-age=60"
    #: (pattern, Cache-Control) for the `CACHE_URI_PATTERNS`, in order.
    cache_controls: tuple[tuple[str, str], ...] = field(
        default_factory=lambda: cache_controls_for(60)
    )
    #: (pattern, Surrogate-Key value) for the `SURROGATE_URI_PATTERNS`, in order.
    surrogate_keys: tuple[tuple[str, str], ...] = SURROGATE_URI_PATTERNS
    #: nginx `client_max_body_size`, in MiB (the upload limit plus multipart overhead).
    client_max_body_mib: int = 2048 + 8
    #: Seconds nginx waits on the app (an upload may wait for the channel lock, then publish).
    proxy_timeout: int = 300
    #: The settings' `accel_redirect` (e.g. `/_stockyard_files/`): an internal location for
    #: files the app authorized. None: the app sends private files itself.
    accel_location: str | None = None
    #: TLS certificate and key files; with them, `listen` gets `ssl http2`.
    ssl_certificate: Path | None = None
    ssl_certificate_key: Path | None = None


def app_address(url: str) -> str:
    """`http://127.0.0.1:8000` -> `127.0.0.1:8000` (the upstream's `server`)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname or parts.path not in {"", "/"}:
        raise ConfigError(
            f"invalid app URL {url!r}",
            hint="Give where stockyard serve listens, e.g. http://127.0.0.1:8000.",
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise ConfigError(f"invalid port in app URL {url!r}") from None
    host = parts.hostname
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default_app_url(settings: Settings) -> str:
    """Where `stockyard serve` listens with these settings, as seen from the same machine."""
    host = settings.host
    if host in {"0.0.0.0", ""}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def cache_controls_for(max_age: int, *, purged: bool = False) -> tuple[tuple[str, str], ...]:
    """(pattern, Cache-Control) of the `CACHE_URI_PATTERNS`, as the app answers them; `purged`:
    a CDN purge is wired (`purge_webhook_url`), so artifacts live long."""
    from stockyard.server.http_files import cache_control

    return tuple(
        (pattern, cache_control(key, max_age=max_age, private=False, purged=purged))
        for pattern, key in CACHE_URI_PATTERNS
    )


def _check_listen(listen: str) -> str:
    if not _listen_re.fullmatch(listen):
        raise ConfigError(
            f"invalid listen address {listen!r}",
            hint="Use a port (8080) or address:port (127.0.0.1:8080, [::]:8080).",
        )
    return listen


def _check_path(path: Path) -> Path:
    if _unsafe_path_re.search(str(path)):
        raise ConfigError(
            f"the data directory {str(path)!r} has characters nginx would misread "
            "(quotes, $, ;, braces, #, backslash or whitespace)",
            hint="Move the data directory to a plain path such as /srv/stockyard.",
        )
    return path


def nginx_front_for(
    settings: Settings,
    *,
    listen: str = "8080",
    app: str | None = None,
    server_name: str = "_",
    ssl_certificate: Path | None = None,
    ssl_certificate_key: Path | None = None,
) -> NginxFront:
    """Describe the front for the data directory named by `settings`.

    ConfigError when the data directory has no `public/` tree yet (start the server once, which
    creates it), or an argument is invalid.
    """
    from stockyard.server.channels import layout_for
    from stockyard.server.http_files import cache_control
    from stockyard.server.uploads import MAX_FIELD_BYTES

    layout = layout_for(settings)
    if not layout.public_dir.is_dir():
        raise ConfigError(
            f"no Stockyard data directory at {str(settings.data_path)!r} (no public/ links)",
            hint="Start `stockyard serve --data DIR` once, or pass the server's --data/--config.",
        )
    if not _server_name_re.fullmatch(server_name):
        raise ConfigError(f"invalid server name {server_name!r}")
    if (ssl_certificate is None) != (ssl_certificate_key is None):
        raise ConfigError("give both the TLS certificate and its key, or neither")
    if ssl_certificate is not None:
        # CEP 16 SHOULD: HTTP/2 for the many small shard requests; clients negotiate it over TLS
        # (ALPN), so it comes with `ssl`. (`listen ... http2` is what Debian's nginx 1.22 reads.)
        flags = listen.split()[1:]
        listen += "".join(f" {flag}" for flag in ("ssl", "http2") if flag not in flags)
    accel = settings.accel_redirect
    if accel is not None and not _accel_re.fullmatch(accel):
        raise ConfigError(f"accel_redirect {accel!r} is not a plain /path/ nginx can use")
    # The multipart form of an upload carries the artifact plus small fields (attestation).
    body_limit = settings.max_upload_bytes + MAX_FIELD_BYTES + MIB
    return NginxFront(
        public_dir=_check_path(layout.public_dir),
        channels_dir=_check_path(layout.channels_dir),
        app=app_address(app or default_app_url(settings)),
        listen=_check_listen(listen),
        server_name=server_name,
        short_cache_control=cache_control(
            "repodata.json", max_age=settings.repodata_max_age, private=False
        ),
        cache_controls=cache_controls_for(
            settings.repodata_max_age, purged=settings.purge_webhook_url is not None
        ),
        client_max_body_mib=math.ceil(body_limit / MIB),
        proxy_timeout=max(300, math.ceil(settings.lock_timeout) + 120),
        accel_location=accel,
        ssl_certificate=_check_path(ssl_certificate.absolute()) if ssl_certificate else None,
        ssl_certificate_key=(
            _check_path(ssl_certificate_key.absolute()) if ssl_certificate_key else None
        ),
    )


def _quoted(value: str) -> str:
    """`value` as one double-quoted nginx token. nginx unescapes only backslash before a quote,
    a backslash, t, r or n inside quotes, so PCRE escapes such as `\\.` are written as they are."""
    if '"' in value or re.search(r"\\[\"'\\trn]", value) or value.endswith("\\"):
        raise ConfigError(f"cannot quote {value!r} for nginx")
    return f'"{value}"'


def _app_paths_pattern() -> str:
    """The server's own top-level paths (`/api`, `/ui`, `/t`, `/health`, ...): straight to the
    app, without looking for a file first."""
    from stockyard.server.channels import RESERVED_CHANNEL_NAMES

    names = "|".join(re.escape(name) for name in sorted(RESERVED_CHANNEL_NAMES))
    return f"^/(?:{names})(?:/|$)"


def render_nginx(front: NginxFront) -> str:
    """The http-context snippet: Cache-Control map, upstream, server block."""
    out: list[str] = []
    add = out.append
    add("# Stockyard nginx front, generated by `stockyard deploy nginx`. Regenerate it after")
    add("# changing the server's settings; creating channels or changing their visibility needs")
    add("# nothing: Stockyard keeps public/ linking exactly the public channels.")
    add("")
    add("# Cache-Control as the app sends it: immutable for content-addressed shards and icons,")
    add("# revalidated for artifacts (a year when a CDN purge is wired); short for repodata,")
    add("# shard index, channeldata and the rest.")
    add(f"map $uri {CACHE_CONTROL_VAR} {{")
    add(f"    default {_quoted(front.short_cache_control)};")
    for pattern, value in front.cache_controls:
        add(f"    {_quoted('~' + pattern)} {_quoted(value)};")
    add("}")
    add("")
    add("# Surrogate-Key as the app sends it, for a CDN in front (docs/deploy-cdn.md).")
    add(f"map $uri {SURROGATE_KEY_VAR} {{")
    add('    default "";')
    for pattern, value in front.surrogate_keys:
        add(f"    {_quoted('~' + pattern)} {_quoted(value)};")
    add("}")
    add("")
    add(f"upstream {UPSTREAM} {{")
    add(f"    server {front.app};")
    add("    keepalive 32;")
    add("}")
    add("")
    add("server {")
    add(f"    listen {front.listen};")
    add(f"    server_name {front.server_name};")
    if front.ssl_certificate and front.ssl_certificate_key:
        add(f"    ssl_certificate {_quoted(str(front.ssl_certificate))};")
        add(f"    ssl_certificate_key {_quoted(str(front.ssl_certificate_key))};")
    add("")
    add("    # Uploads stream through to the app, which enforces its own limit (413) as well.")
    add(f"    client_max_body_size {front.client_max_body_mib}m;")
    add("    proxy_request_buffering off;")
    add("    proxy_http_version 1.1;")
    add('    proxy_set_header Connection "";')
    add("    proxy_set_header Host $host;")
    add("    proxy_set_header X-Real-IP $remote_addr;")
    add("    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
    add("    proxy_set_header X-Forwarded-Proto $scheme;")
    add(f"    proxy_read_timeout {front.proxy_timeout}s;")
    add(f"    proxy_send_timeout {front.proxy_timeout}s;")
    add("")
    add("    sendfile on;")
    add("    tcp_nopush on;")
    add("    # The .gz each publish writes next to repodata.json, current_repodata.json and")
    add("    # channeldata.json is sent as it is; other JSON is compressed on the fly.")
    add("    gzip_static on;")
    add("    gzip on;")
    add("    gzip_types application/json;")
    add("    gzip_vary on;")
    add("    gzip_min_length 1024;")
    add("    charset utf-8;")
    add("    charset_types text/plain;  # text/html is always included")
    add("    types {")
    for kind, suffix in MEDIA_TYPES:
        add(f"        {kind} {suffix};")
    add("    }")
    add("    # .zst, .msgpack.zst, .conda, .tar.bz2: bytes, never a content-coding.")
    add("    default_type application/octet-stream;")
    add("")
    add("    # public/<name> links to channels/<name> for the public channels only: a private")
    add("    # channel is not in this tree, so its requests fall through to the app.")
    add(f"    root {_quoted(str(front.public_dir))};")
    add("    index index.html;")
    add("")
    add("    # Dotfiles and dot-directories (.stockyard/: the publish lock, the upload spool) are")
    add("    # never served.")
    add(r"    location ~ /\. {")
    add("        default_type application/json;")
    add(
        '        return 404 \'{"error":"NotFound","message":"no such file",'
        '"hint":"Clients fall back to repodata.json when a variant is missing."}\';'
    )
    add("    }")
    add("")
    add("    # The app's own paths: /api, /ui, /t/<token>/..., /health, /metrics, ...")
    add(f"    location ~ {_quoted(_app_paths_pattern())} {{")
    add(f"        proxy_pass http://{UPSTREAM};")
    add("    }")
    add("    location = / {")
    add(f"        proxy_pass http://{UPSTREAM};")
    add("    }")
    add("")
    add("    # Published files of public channels, straight from disk.")
    add("    location / {")
    add("        # Not here (private or unknown channel, missing variant, a directory without")
    add("        # index.html): the app decides, and answers 404 JSON or the file. An error_page")
    add("        # rather than try_files: one open() per request, not a stat() and an open().")
    add("        error_page 403 404 418 = @app;")
    add("        log_not_found off;")
    add("        # Uploads (PUT) and anything but GET/HEAD go to the app.")
    add("        if ($request_method !~ ^(?:GET|HEAD)$) {")
    add("            return 418;")
    add("        }")
    add(f"        add_header Cache-Control {CACHE_CONTROL_VAR};")
    add(f"        add_header Surrogate-Key {SURROGATE_KEY_VAR};")
    add("    }")
    add("")
    add("    location @app {")
    add(f"        proxy_pass http://{UPSTREAM};")
    add("    }")
    if front.accel_location:
        add("")
        add("    # Files the app authorized (private channels, token URLs) come back here through")
        add("    # X-Accel-Redirect, with the app's Cache-Control and Content-Type. `internal`: no")
        add("    # client can ask for these paths; `^~`: no regex location takes them.")
        add(f"    location ^~ {front.accel_location} {{")
        add("        internal;")
        add(f"        alias {_quoted(str(front.channels_dir) + '/')};")
        add("    }")
    add("}")
    return "\n".join(out) + "\n"


def render_nginx_main(
    front: NginxFront,
    *,
    prefix: Path,
    user: str | None = None,
    worker_processes: str = "auto",
    worker_connections: int = 1024,
) -> str:
    """A complete nginx.conf running only the front, keeping its pid, logs and temp files under
    `prefix` (run it with `nginx -p PREFIX -c PREFIX/nginx.conf`)."""
    prefix = _check_path(prefix.resolve())
    lines = [
        "# A dedicated nginx for the Stockyard front (generated by `stockyard deploy nginx`).",
    ]
    if user:
        lines.append(f"user {user};")
    lines += [
        f"worker_processes {worker_processes};",
        f"pid {prefix}/nginx.pid;",
        f"error_log {prefix}/error.log warn;",
        "",
        f"events {{\n    worker_connections {worker_connections};\n}}",
        "",
        "http {",
        f"    access_log {prefix}/access.log;",
        f"    client_body_temp_path {prefix}/client_body_temp;",
        f"    proxy_temp_path {prefix}/proxy_temp;",
        f"    fastcgi_temp_path {prefix}/fastcgi_temp;",
        f"    uwsgi_temp_path {prefix}/uwsgi_temp;",
        f"    scgi_temp_path {prefix}/scgi_temp;",
        "    keepalive_requests 100000;",
        "",
    ]
    lines += [f"    {line}" if line else "" for line in render_nginx(front).splitlines()]
    lines.append("}")
    return "\n".join(lines) + "\n"


__all__ = [
    "CACHE_CONTROL_VAR",
    "CACHE_URI_PATTERNS",
    "MEDIA_TYPES",
    "SURROGATE_KEY_VAR",
    "SURROGATE_URI_PATTERNS",
    "NginxFront",
    "app_address",
    "default_app_url",
    "nginx_front_for",
    "render_nginx",
    "render_nginx_main",
]
