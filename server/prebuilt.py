"""Answers whose header block is built once: the lean path of cached public answers.

A cached answer (``server/cache.py``) is the same bytes for every anonymous reader, and
so are its headers but three: the status line's HTTP version, ``X-Request-ID`` and
``Date``. ``JsonBlocks`` holds, per cached entry, the rest serialised once (the 200 with
its ``Content-Length``, and the 304), security headers included; ``Prebuilt`` is the
response that sends one: per request it joins the status line, the block, the request
id and the date (formatted once a second) and hands them to aiohttp's writer with the
body, in one write, as aiohttp itself would. Nothing else is built per request: no
header dictionary, no per-character header check (the block is checked once, when it
is built; a request id is ours or matched ``[A-Za-z0-9._:-]``).

The middleware stamps the request id (``Prebuilt.request_id``) and leaves the headers
alone. A header added to a ``Prebuilt`` by hand (``response.headers``) is still sent.
HEAD answers the headers without the body, a 304 has no ``Content-Length``, HTTP/1.0
and ``Connection: close`` are answered as aiohttp would.

The standard security headers live here, as the block every answer carries; the
middleware adds the same ones to the responses it builds the ordinary way.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion, HttpVersion10, HttpVersion11
from aiohttp.http_writer import StreamWriter
from multidict import CIMultiDict

DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
"""On every response (the middleware's and these blocks), with ``DEFAULT_CSP`` unless the
handler set its own ``Content-Security-Policy``."""


def header_lines(*headers: tuple[str, str]) -> bytes:
    """``Name: value\\r\\n`` lines, checked once for what would split a header."""
    text = "".join(f"{name}: {value}\r\n" for name, value in headers)
    if any(ch in text.replace("\r\n", "") for ch in "\r\n\0"):
        raise ValueError("a header name or value holds a line break")
    return text.encode("latin-1")


PUBLIC_REVALIDATED = "no-cache"
"""Kept by the client, asked again each time (cheaply: a 304 when the ETag matches)."""
PRIVATE_REVALIDATED = "private, no-cache"
"""The same for an answer that depends on who asks (not kept by shared caches)."""

_STANDARD = header_lines(*SECURITY_HEADERS, ("Content-Security-Policy", DEFAULT_CSP))
_SERVER = header_lines(("Server", SERVER_SOFTWARE))
_STATUS_LINES = {200: b"HTTP/1.1 200 OK\r\n", 304: b"HTTP/1.1 304 Not Modified\r\n"}
_REQUEST_ID = b"X-Request-ID: "


class _Date:
    """The ``Date`` line and the blank line after it, encoded once a second (aiohttp
    formats the date once a second)."""

    __slots__ = ("tail", "text")

    def __init__(self) -> None:
        self.text = ""
        self.tail = b""

    def now(self) -> bytes:
        text = rfc822_formatted_time()
        if text is not self.text:
            self.text, self.tail = text, f"\r\nDate: {text}\r\n\r\n".encode()
        return self.tail


_date = _Date()


class JsonBlocks:
    """A JSON answer's two header blocks (200 and 304), built once per cached entry."""

    __slots__ = ("body", "etag", "not_modified", "ok")

    def __init__(self, body: bytes, etag: str, cache_control: str) -> None:
        self.body = body
        self.etag = etag
        # Both end where the request id goes (the one header every answer has).
        common = (
            header_lines(
                ("ETag", etag), ("Cache-Control", cache_control), ("Vary", "Authorization")
            )
            + _STANDARD
            + _SERVER
            + _REQUEST_ID
        )
        self.not_modified = _STATUS_LINES[304] + common
        self.ok = (
            _STATUS_LINES[200]
            + header_lines(("Content-Type", "application/json"), ("Content-Length", str(len(body))))
            + common
        )

    def answer(self, if_none_match: str | None) -> Prebuilt:
        """The 200, or the 304 when ``If-None-Match`` holds this ETag."""
        if if_none_match is not None and self.etag in if_none_match:
            return Prebuilt(304, self.not_modified, b"")
        return Prebuilt(200, self.ok, self.body)


class ConstantJson:
    """An answer that never changes (``/healthz``): its block is built once, at import."""

    __slots__ = ("block", "body")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.block = (
            _STATUS_LINES[200]
            + header_lines(("Content-Type", "application/json"), ("Content-Length", str(len(body))))
            + _STANDARD
            + _SERVER
            + _REQUEST_ID
        )

    def answer(self) -> Prebuilt:
        return Prebuilt(200, self.block, self.body)


class Prebuilt(web.Response):
    """A response sent from a block built beforehand (``JsonBlocks``, ``ConstantJson``):
    see the module.

    The block starts with the HTTP/1.1 status line and ends with ``X-Request-ID: ``."""

    request_id = "-"  # stamped by the middleware

    def __init__(self, status: int, block: bytes, body: bytes) -> None:
        # Not web.Response.__init__: it would build the headers this block replaces.
        self._state: dict[Any, Any] = {}
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._status = status
        self._reason = "OK" if status == 200 else "Not Modified"
        self._body = self._block_body = body
        self._block = block

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self._eof_sent:
            return None
        if self._payload_writer is not None:
            return self._payload_writer
        self._req = request
        writer = self._payload_writer = request._payload_writer
        await request._prepare_hook(self)
        self._must_be_empty_body = self._status == 304 or request.method == "HEAD"
        if self._keep_alive is None:
            self._keep_alive = request.keep_alive
        version = request.version
        if version == HttpVersion11 and self._keep_alive and not self._headers:
            head = b"".join((self._block, self.request_id.encode(), _date.now()))
        else:
            head = self._head_otherwise(version)
        if not isinstance(writer, StreamWriter):  # aiohttp's own, always: a test writer?
            raise TypeError(f"Prebuilt needs aiohttp's StreamWriter, not {type(writer)}")
        # What StreamWriter.write_headers leaves behind, without its serialisation.
        writer._headers_buf = head
        writer._headers_written = False
        return writer

    def _head_otherwise(self, version: HttpVersion) -> bytes:
        """HTTP/1.0, a connection that closes, or headers added to the response."""
        head = self._block
        if version != HttpVersion11:
            status_line = f"HTTP/{version[0]}.{version[1]} {self._status} {self._reason}\r\n"
            head = status_line.encode() + head[len(_STATUS_LINES[self._status]) :]
        connection = b""  # as aiohttp answers: what differs from the version's default
        if self._keep_alive and version == HttpVersion10:
            connection = b"\r\nConnection: keep-alive"
        elif not self._keep_alive and version == HttpVersion11:
            connection = b"\r\nConnection: close"
        extra = b""
        if self._headers:
            extra = b"\r\n" + header_lines(*self._headers.items())[:-2]
        return b"".join((head, self.request_id.encode(), connection, extra, _date.now()))

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        writer = self._payload_writer
        if writer is None:
            raise RuntimeError("Prebuilt.write_eof before prepare")
        await writer.write_eof(b"" if self._must_be_empty_body else self._block_body)
        self._eof_sent = True
        self._req = None
        self._body_length = writer.output_size
        self._payload_writer = None
