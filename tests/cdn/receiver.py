"""A purge webhook receiver for tests: a real HTTP server on 127.0.0.1 in a thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    url: str
    #: Status codes to answer, in order; then `default_status`.
    statuses: list[int] = field(default_factory=list)
    default_status: int = 204
    #: Every request: (path, headers, decoded JSON body, answered status).
    requests: list[tuple[str, dict[str, str], Any, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: When set, requests wait for it (bounded) before they are answered.
    gate: threading.Event | None = None

    def payloads(self, status: int | None = None) -> list[Any]:
        with self.lock:
            return [body for _, _, body, s in self.requests if status is None or s == status]

    def wait_for(self, predicate, timeout: float = 20.0) -> list[Any]:  # type: ignore[no-untyped-def]
        """The accepted payloads once `predicate(payloads)` holds (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                accepted = [b for (_, _, b, s) in self.requests if 200 <= s < 300]
            if predicate(accepted):
                return accepted
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver got {self.requests!r}")
            time.sleep(0.05)


@contextmanager
def purge_receiver(statuses: list[int] | None = None, path: str = "/purge") -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = holder["r"]
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if receiver.gate is not None:
                receiver.gate.wait(20)
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default_status
                receiver.requests.append((self.path, dict(self.headers), json.loads(body), status))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    holder["r"] = Receiver(f"http://{host}:{port}{path}", list(statuses or []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
