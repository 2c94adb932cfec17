"""A minimal HTTP/1.1 client over one kept asyncio connection, for load generators.

httpx spent about 4 ms of CPU per request in the 50-client load test, as much as the server
it measured: with one interpreter driving 50 clients, responses waited in the generator's
event loop, and that wait was counted as the server's latency. This client writes the request
and reads the status, headers and a ``Content-Length`` body (all the API sends) with a few
calls. A failed request is an error, as with httpx (no retry); the next one opens a new
connection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

__all__ = ["HttpError", "RawConnection"]


class HttpError(Exception):
    """The connection failed or the response could not be read."""


class RawConnection:
    """One client's connection to ``host:port``; requests go one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      params: dict[str, str] | None = None) -> tuple[int, bytes]:
        """(status, body) of one request."""
        if params:
            path = f"{path}?{urlencode(params)}"
        body = b"" if json_body is None else json.dumps(json_body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Length: {len(body)}\r\n")
        if json_body is not None:
            head += "Content-Type: application/json\r\n"
        message = head.encode() + b"\r\n" + body
        try:
            reader, writer = await self._connection()
            writer.write(message)
            return await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
            await self.close()  # the next request opens a new connection
            raise HttpError(f"{method} {path}: {exc!r}") from exc

    async def close(self) -> None:
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        return self._streams


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    length: int | None = None
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding":
            raise HttpError(f"unsupported transfer encoding {value.strip()!r}")
    if length is None:
        raise HttpError("a response without Content-Length")
    return status, await reader.readexactly(length)
