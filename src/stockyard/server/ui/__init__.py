"""The web UI of `stockyard serve`: server-rendered pages under `/ui` (see `routes`)."""

from __future__ import annotations

from fastapi import FastAPI

from stockyard.server.ui.job_pages import build_job_router
from stockyard.server.ui.routes import Renderer, build_router
from stockyard.server.ui.templating import create_environment, load_script, load_stylesheet


def register(app: FastAPI) -> None:
    """Add the UI's routes to `app` (called by `create_app` before the channel routes, so
    `/t/<token>/ui/...` is matched here and not taken for a channel named `ui`)."""
    app.state.stockyard_ui = Renderer(create_environment(), load_stylesheet(), load_script())
    app.include_router(build_job_router())  # before the channel pages it would look like
    app.include_router(build_router())


__all__ = ["register"]
