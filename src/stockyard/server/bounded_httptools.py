"""`BoundedHttpToolsProtocol`: uvicorn's httptools protocol with a bounded request head (see
`http_limits`). `stockyard serve` names it to uvicorn when httptools is installed."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stockyard.server.http_limits import MAX_HEAD_BYTES, MAX_HEADERS, RESPONSE_431


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head."""

    _in_head = True
    _head_bytes = 0
    _header_count = 0
    _refused = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._refused = True
            raise ValueError("too many header lines")  # the parser stops here
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._in_head and self._head_bytes + len(data) > MAX_HEAD_BYTES:
            # Parse only what the head may still take; whatever follows the head (a body,
            # a pipelined request) is parsed once the head is known to have ended in time.
            allowed = MAX_HEAD_BYTES - self._head_bytes
            super().data_received(data[:allowed])
            if self.transport.is_closing():
                return
            if self._in_head:
                self._refuse()
                return
            data = data[allowed:]
        super().data_received(data)
        if self._in_head:
            # Conservative for a pipelined head that began inside this chunk.
            self._head_bytes += len(data)

    def send_400_response(self, msg: str) -> None:
        if self._refused:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self.logger.warning("Request head too large (431); connection closed.")
        if not self.transport.is_closing():
            self.transport.write(RESPONSE_431)
            self.transport.close()
