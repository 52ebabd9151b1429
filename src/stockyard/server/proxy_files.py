"""The HTTP side of proxy channels (`stockyard.proxy`): a file of a proxy channel is fetched
or revalidated by its `ProxyChannel`, then served from the proxy's cache exactly as a local
file is (`channel_files.plan_answer` and `send_answer`: validators, 304, Range, gzip,
Cache-Control).

- A document served stale (every upstream failed, the cached copy is past its TTL) carries
  `Warning: 110 - "Response is Stale"` (RFC 7234 stale-if-error).
- Nothing usable upstream and nothing cached: 502 JSON (`UpstreamUnavailable`) naming each
  upstream's failure (tokens masked).
- Not listed upstream, left out by the filters, a subdir upstream lacks: 404 JSON.

The `ProxyRegistry` (one `ProxyChannel` per channel, with its HTTP client and in-flight
transfers) lives on the app's state, so every request of a process shares it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from stockyard.proxy import ProxyRegistry, ProxyUnavailable
from stockyard.server.errors import error_response, stockyard_error_response
from stockyard.server.http_files import FileBody, open_regular_file
from stockyard.server.state import ChannelView, ServerState
from stockyard.types.errors import StockyardError

STALE_WARNING = '110 - "Response is Stale"'
_REGISTRY = "stockyard_proxies"


def proxy_registry(request: Request) -> ProxyRegistry:
    registry = getattr(request.app.state, _REGISTRY, None)
    if registry is None:
        registry = ProxyRegistry()
        setattr(request.app.state, _REGISTRY, registry)
    return registry


async def serve_proxy_file(
    request: Request,
    state: ServerState,
    view: ChannelView,
    key: str,
    *,
    private: bool,
    max_age: int,
) -> Response:
    from stockyard.server.channel_files import plan_answer, send_answer

    name = view.channel.name
    assert view.proxy is not None
    try:
        proxy = proxy_registry(request).channel(name, state.layout.state_dir(name), view.proxy)
        found = await proxy.get(key)
    except ProxyUnavailable as exc:
        return error_response(502, "UpstreamUnavailable", exc.message, exc.hint)
    except StockyardError as exc:
        return stockyard_error_response(exc)
    opened = open_regular_file(found.path) if found is not None else None
    if found is None or opened is None:
        return error_response(
            404,
            "NotFound",
            f"no file {key!r} in proxy channel {name!r}",
            "Not in the upstream channel, or left out by this proxy's filters.",
        )
    answer = plan_answer(state, name, key, opened, private, max_age, None, request.headers)
    response = await send_answer(request, state, name, key, answer)
    accel = state.settings.accel_redirect
    if accel is not None and "x-accel-redirect" in response.headers:
        cached = found.path.relative_to(state.layout.channel_dir(name)).as_posix()
        response.headers["x-accel-redirect"] = f"{accel}{name}/{cached}"
    if found.stale:
        _add_header(response, "warning", STALE_WARNING)
    return response


def _add_header(response: Response, name: str, value: str) -> None:
    if isinstance(response, FileBody):
        response.raw_headers.append((name.encode("latin-1"), value.encode("latin-1")))
    else:
        response.headers[name] = value
