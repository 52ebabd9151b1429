"""`create_app(settings)`: the Stockyard channel server (FastAPI on uvicorn).

URL layout:

```
/                                   -> /ui/
/ui/...                             web UI (stockyard.server.ui, when installed)
/api/...                            JSON API (OpenAPI at /api/openapi.json, docs at /api/docs)
/api/channels/{c}/upload/{file}     quetz upload           POST
/api/v1/upload/{c}                  prefix.dev upload      POST
/health, /health/ready, /metrics    operations
/{c}/{path}                         the conda channel      GET, HEAD
/t/{token}/{c}/{path}               the same, with a token GET, HEAD
/{c}/{subdir}/{file}                artifactory upload     PUT   (also under /t/{token}/)
```

Everything a request needs hangs off `app.state.stockyard` (a `ServerState`); there are no
module globals, so several apps (tests) can live in one process.

The web UI plugs in through `stockyard.server.ui.register(app)`: it adds its routes under
`/ui` and reads the state with `stockyard.server.state.get_state(request)`. Without that module
a minimal channel list is served at `/ui/`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from stockyard import __version__
from stockyard.config import Settings, load_settings
from stockyard.server import (
    api,
    api_docs,
    attest_api,
    channel_files,
    history_api,
    job_schedule,
    jobs_api,
    labels_api,
    mirror_api,
    mirror_schedule,
    packages_api,
    scan_api,
    ui,
    uploads,
)
from stockyard.server.channels import layout_for, open_catalog
from stockyard.server.errors import install_error_handlers
from stockyard.server.fast_files import FastChannelFiles
from stockyard.server.observability import AccessLogMiddleware, Metrics, health
from stockyard.server.state import ChannelCache, ServerState, get_state
from stockyard.types.struct_warmup import warm_struct_types

#: With several workers, `stockyard serve` passes its settings to each worker in this variable.
SETTINGS_ENV: Final = "STOCKYARD_SETTINGS_JSON"

log = logging.getLogger("stockyard.server")


class LabeledRoute(Route):
    """A plain Starlette route that records itself in the scope (as FastAPI's routes do), so
    metrics and logs can name the route template instead of the raw path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class StockyardApp(FastAPI):
    """FastAPI with the channel-file fast path (server/fast_files.py) in front of all of it:
    304s and small files of public channels are answered before routing and middleware."""

    fast_files: FastChannelFiles | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_files
        if fast is not None and scope["type"] == "http" and await fast.answered(scope, send):
            return
        await super().__call__(scope, receive, send)


def _add(app: FastAPI, path: str, endpoint: Callable[..., Any], methods: list[str]) -> None:
    app.router.routes.append(LabeledRoute(path, endpoint, methods=methods, include_in_schema=False))


def create_app(settings: Settings) -> StockyardApp:
    # Before any worker thread exists: msgspec's first use of a Struct is not thread safe.
    warm_struct_types()
    catalog = open_catalog(settings)
    state = ServerState(
        settings=settings,
        catalog=catalog,
        layout=layout_for(settings),
        metrics=Metrics.for_server(settings),
        channels=ChannelCache(settings.channel_cache_seconds),
    )
    if state.layout.remote is not None:
        from stockyard.server.remote_files import RemoteFiles

        state.remote_files = RemoteFiles(settings.data_path.resolve() / "cache" / "files")
    from stockyard.jobs import open_runner

    # Background jobs: in-process threads, or Celery workers with broker_url (server/jobs_api.py).
    jobs = open_runner(settings, catalog)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop_listening = _follow_publishes(state)
        from stockyard.cdn.hooks import install_purge_webhook

        # `purge_webhook_url`: this process's publishes are POSTed there (docs/deploy-cdn.md).
        stop_purging = install_purge_webhook(settings, state.metrics.registry)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(_sweep_spools, state)
                group.start_soon(_preload_proxy_modules, state)
                group.start_soon(job_schedule.recover_jobs, jobs)
                # With a broker, schedules queue jobs for `stockyard worker` (job_schedule.py).
                submit = job_schedule.scheduled_submit(jobs)
                if submit is None:
                    group.start_soon(_scheduled_snapshots, state)
                else:
                    group.start_soon(job_schedule.queue_due_snapshots, state.catalog, jobs)
                group.start_soon(
                    mirror_schedule.run_scheduled_mirrors, settings, state.catalog, submit
                )
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            stop_purging()
            stop_listening()
            jobs.close()
            state.spool_owner.close()
            state.catalog.close()

    app = StockyardApp(
        title="Stockyard",
        version=__version__,
        summary="A conda channel server: channels, packages, uploads and tokens.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # server/api_docs.py: the same page, with local assets
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.stockyard = state
    app.fast_files = FastChannelFiles(state)
    app.state.stockyard_jobs = jobs
    install_error_handlers(app)
    app.add_middleware(AccessLogMiddleware, metrics=state.metrics)

    _add(app, "/health", health, ["GET", "HEAD"])
    _add(app, "/health/ready", _ready, ["GET", "HEAD"])
    _add(app, "/metrics", _metrics, ["GET"])

    app.include_router(api.router)
    app.include_router(packages_api.router)
    app.include_router(labels_api.router)
    app.include_router(history_api.router)
    app.include_router(scan_api.router)
    app.include_router(mirror_api.router)
    app.include_router(attest_api.router)
    app.include_router(jobs_api.router)
    api_docs.register(app)
    _add(app, "/api/channels/{channel}/upload/{filename}", uploads.quetz_upload, ["POST"])
    _add(app, "/api/v1/upload/{channel}", uploads.prefix_upload, ["POST"])

    ui.register(app)
    _add(app, "/", _root, ["GET", "HEAD"])

    file_routes = (
        ("/t/{token}/{channel}/{subdir}/{filename}", uploads.put_upload, ["PUT"]),
        ("/t/{token}/{channel}/label/{label}/{subdir}/{filename}", uploads.put_upload, ["PUT"]),
        ("/t/{token}/{channel}/{path:path}", channel_files.token_channel_file, ["GET", "HEAD"]),
        ("/t/{token}/{channel}", channel_files.channel_root, ["GET", "HEAD"]),
        ("/{channel}/{subdir}/{filename}", uploads.put_upload, ["PUT"]),
        ("/{channel}/label/{label}/{subdir}/{filename}", uploads.put_upload, ["PUT"]),
        ("/{channel}/{path:path}", channel_files.channel_file, ["GET", "HEAD"]),
        ("/{channel}", channel_files.channel_root, ["GET", "HEAD"]),
    )
    for path, endpoint, methods in file_routes:
        _add(app, path, endpoint, methods)
    return app


def app_from_environment() -> StockyardApp:
    """The uvicorn factory for `stockyard serve --workers N` (each worker builds its app)."""
    from stockyard.server.observability import logging_config

    raw = os.environ.get(SETTINGS_ENV)
    settings = Settings.from_json(raw) if raw else load_settings()
    import logging.config

    logging.config.dictConfig(logging_config(settings.log_format, settings.log_level))
    return create_app(settings)


def _follow_publishes(state: ServerState) -> Callable[[], None]:
    """Keep this replica's copies of bucket files current: publishes of this process drop them
    at once; with PostgreSQL, publishes of every other replica too (LISTEN/NOTIFY). Returns the
    function that stops following."""
    remote = state.remote_files
    if remote is None:
        return lambda: None
    from stockyard.catalog.coordination import PublishListener, is_postgres_url, on_local_publish

    # Copies readers got lately are fetched again at once, off the caller's thread (the
    # committing thread, or the listener's).
    refresher = ThreadPoolExecutor(1, "stockyard-refresh")

    def published(channel: str) -> None:
        remote.invalidate(channel)
        with contextlib.suppress(RuntimeError):  # shutting down
            refresher.submit(remote.refresh, channel)

    unsubscribe = on_local_publish(published)
    listener: PublishListener | None = None
    if is_postgres_url(state.settings.db_url):
        active = listener = PublishListener(
            state.settings.catalog_url, published, remote.invalidate_all
        )
        remote.listening = lambda: active.healthy
        active.start().wait_until_listening(timeout=5.0)

    def stop() -> None:
        unsubscribe()
        if listener is not None:
            listener.stop()
        refresher.shutdown(wait=False, cancel_futures=True)

    return stop


async def _preload_proxy_modules(state: ServerState) -> None:
    """With proxy channels, import what their first request needs (the proxy, artifact
    verification, filters: a few tenths of a second) at start, in a thread, rather than in the
    first client's request."""

    def preload() -> None:
        catalog = state.catalog
        if any(catalog.channel_policy(c.id).proxy for c in catalog.list_channels()):
            import stockyard.package.verify
            import stockyard.proxy.artifacts
            import stockyard.server.proxy_files  # noqa: F401

    try:
        await anyio.to_thread.run_sync(preload)
    except Exception:  # only a head start: the first request imports them otherwise
        log.debug("preloading the proxy modules failed", exc_info=True)


async def _sweep_spools(state: ServerState) -> None:
    """Every `SWEEP_SECONDS`: delete upload spool files of dead server processes and any older
    than `STALE_UPLOAD_SECONDS` (see server/spool.py)."""
    from stockyard.server.spool import SWEEP_SECONDS, sweep

    while True:
        await anyio.sleep(SWEEP_SECONDS)
        try:
            removed = await anyio.to_thread.run_sync(sweep, state.layout.channels_dir)
        except OSError as exc:
            log.warning("upload spool sweep failed: %s", exc)
            continue
        if removed:
            log.info("removed %d abandoned upload spool file(s)", removed)


#: How often the server looks for channels whose snapshot schedule is due.
SNAPSHOT_CHECK_SECONDS = 60


async def _scheduled_snapshots(state: ServerState) -> None:
    """Take the snapshots channel policies schedule (`stockyard snapshot schedule`)."""
    from stockyard.snapshots import take_due_snapshots

    def due() -> None:
        take_due_snapshots(
            state.catalog,
            lambda channel: state.layout.workspace(channel.name),
            lock_timeout=state.settings.lock_timeout,
            store_of=lambda channel: state.layout.store(channel.name),
        )

    while True:
        await anyio.sleep(SNAPSHOT_CHECK_SECONDS)
        try:
            await anyio.to_thread.run_sync(due)
        except Exception as exc:  # the loop must outlive any one failure
            log.warning("scheduled snapshots failed: %s", exc)


async def _root(_request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=307)


async def _ready(request: Request) -> Response:
    """Readiness: the catalog answers a query. Channels with a publish owed (a failed or
    interrupted publish; served as last published) are listed, not fatal."""
    try:
        owing = await anyio.to_thread.run_sync(get_state(request).catalog.channels_owing_publish)
    except Exception as exc:  # any driver error means "not ready"
        log.warning("readiness check failed: %s", exc)
        return JSONResponse({"status": "unavailable", "catalog": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "catalog": "ok", "channels_owing_publish": owing})


async def _metrics(request: Request) -> Response:
    state = get_state(request)
    # A thread: the jobs gauge is a catalog query, multiprocess mode reads the workers' files.
    return await anyio.to_thread.run_sync(state.metrics.render, state.catalog.job_counts)
