"""The HTTP server, with one addition to Tornado's: a request whose headers are too large
is answered 431 in the envelope instead of a reset connection.

Tornado reads headers up to ``max_header_size`` and then closes the stream. Just before
it does, the answer is written, the sending side shut, and a duplicate of the socket
kept to read (and drop) what the client is still sending: closing a socket with unread
data would send a reset, and the client would never read the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream, UnsatisfiableReadError
from tornado.web import Application

from api.messages import message_for

MAX_HEADER_BYTES = 64 * 1024
_DRAIN_SECONDS = 5.0
_DRAIN_BYTES = 16 * 1024 * 1024


def _answer_431() -> bytes:
    code = "HEADERS_TOO_LARGE"
    body = json.dumps({"error": {"code": code, "message": message_for(code),
                                 "request_id": uuid.uuid4().hex}},
                      ensure_ascii=False).encode()
    return (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"Content-Type: application/json; charset=UTF-8\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n"
            b"Connection: close\r\n\r\n" + body)


async def _drain_and_close(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    received = 0
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            while received < _DRAIN_BYTES:
                chunk = await loop.sock_recv(sock, 65536)
                if not chunk:
                    break
                received += len(chunk)
    except (TimeoutError, OSError):
        pass
    finally:
        sock.close()


class ApiServer(HTTPServer):
    def handle_stream(self, stream: IOStream, address: tuple[Any, ...]) -> None:
        close = stream.close

        def close_answering_431(exc_info: Any = False) -> None:
            if isinstance(exc_info, UnsatisfiableReadError) and not stream.closed():
                with contextlib.suppress(OSError):
                    stream.socket.send(_answer_431())
                    stream.socket.shutdown(socket.SHUT_WR)
                    kept = stream.socket.dup()
                    kept.setblocking(False)
                    asyncio.get_running_loop().create_task(_drain_and_close(kept))
            close(exc_info)

        stream.close = close_answering_431  # type: ignore[method-assign]
        super().handle_stream(stream, address)


def api_server(app: Application, *, max_body_size: int) -> ApiServer:
    return ApiServer(app, max_body_size=max_body_size, max_header_size=MAX_HEADER_BYTES,
                     idle_connection_timeout=60, body_timeout=120)
