"""Every error leaves the server as `{"error": ..., "message": ..., "hint": ...}` JSON."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from stockyard.types.errors import StockyardError

log = logging.getLogger("stockyard.server")


def error_body(error: str, message: str, hint: str = "") -> dict[str, str]:
    return {"error": error, "message": message, "hint": hint}


def error_response(
    status: int,
    error: str,
    message: str,
    hint: str = "",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(error, message, hint), status_code=status, headers=headers)


def stockyard_error_response(exc: StockyardError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="stockyard"'} if exc.http_status == 401 else None
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


async def _on_stockyard_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StockyardError)
    return stockyard_error_response(exc)


async def _on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    message = exc.detail if isinstance(exc.detail, str) else phrase
    hint = "See /api/docs for the API." if exc.status_code in {404, 405} else ""
    return error_response(
        exc.status_code, phrase.replace(" ", ""), message, hint, headers=exc.headers
    )


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
        for err in exc.errors()
    )
    body = error_body("InvalidRequest", problems or "invalid request", "See /api/docs.")
    body["detail"] = exc.errors()  # type: ignore[assignment]  # FastAPI's documented 422 shape
    return JSONResponse(_jsonable(body), status_code=422)


def _jsonable(value: object) -> object:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value)


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(
        500, "InternalError", "the server hit an unexpected error", "It is logged; retry later."
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StockyardError, _on_stockyard_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
