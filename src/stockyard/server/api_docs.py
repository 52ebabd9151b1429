"""The API docs page (/api/docs) with Swagger UI served by the server itself, so it works on a
machine without internet access (FastAPI's default page loads it from a CDN). The assets are
Swagger UI 5 (it reads OpenAPI 3.1, which FastAPI writes), as bundled by `fastapi-offline`."""

from __future__ import annotations

import importlib.resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/api/docs-assets"


def register(app: FastAPI) -> None:
    assets = importlib.resources.files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="api-docs-assets")

    async def docs(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/api/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    app.add_api_route("/api/docs", docs, methods=["GET"], include_in_schema=False)
