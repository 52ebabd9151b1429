"""Bounds on a request's head (request line and headers), enforced in the HTTP protocol.

uvicorn's httptools protocol keeps every header line a client sends: 300 MB of header lines to
`/health` grew the server from 90 to 405 MB. `BoundedHttpToolsProtocol` answers
`431 Request Header Fields Too Large` and closes the connection as soon as a request's head
passes `MAX_HEAD_BYTES` or `MAX_HEADERS` header lines, before anything reaches the app. Without
httptools, uvicorn's h11 protocol is bounded by `h11_max_incomplete_event_size` (it answers 400).
The protocol class lives in `bounded_httptools` (it imports httptools, which is optional).

`uvicorn_options()` is what `stockyard serve` passes to uvicorn.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any, Final

#: Request line and headers of one request: far above any client's (nginx allows 32 KiB).
MAX_HEAD_BYTES: Final = 64 * 1024
#: Header lines of one request (Python's http.client allows 100 in a response).
MAX_HEADERS: Final = 100

_BODY: Final = json.dumps(
    {
        "error": "RequestHeaderFieldsTooLarge",
        "message": (
            f"the request head is larger than {MAX_HEAD_BYTES} bytes or has more than "
            f"{MAX_HEADERS} header lines"
        ),
        "hint": "Send fewer or shorter headers.",
    }
).encode()
RESPONSE_431: Final = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _BODY
)


def uvicorn_options() -> dict[str, Any]:
    """The HTTP protocol options for `uvicorn.run`: the bounded httptools protocol when
    httptools is installed (it is with `uvicorn[standard]`), else h11 with the same bound."""
    if importlib.util.find_spec("httptools") is not None:
        return {"http": "stockyard.server.bounded_httptools:BoundedHttpToolsProtocol"}
    return {"http": "h11", "h11_max_incomplete_event_size": MAX_HEAD_BYTES}
