"""Answers sent from header blocks built once (server/prebuilt.py), read on the wire."""

from __future__ import annotations

import asyncio

from aiohttp import web

from server.prebuilt import ConstantJson, JsonBlocks, Prebuilt
from tests.fixtures.app import AiohttpClient, Client

BODY = b'{"items":[]}'
BLOCKS = JsonBlocks(BODY, '"abc"', "no-cache")


async def page(request: web.Request) -> web.StreamResponse:
    answer = BLOCKS.answer(request.headers.get("If-None-Match"))
    answer.request_id = "rid-1"
    if "extra" in request.query:
        answer.headers["X-Extra"] = "yes"
    if "close" in request.query:
        answer.force_close()
    return answer


async def healthz(request: web.Request) -> web.StreamResponse:
    return ConstantJson(b'{"status":"ok"}').answer()


async def serve(aiohttp_client: AiohttpClient) -> Client:
    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/healthz", healthz)
    return await aiohttp_client(app)


async def raw(client: Client, request: bytes) -> bytes:
    """One request on its own connection; everything the server sends until it closes."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()  # the server closes: HTTP/1.0 or Connection: close
    writer.close()
    return data


async def test_the_block_carries_every_header_and_the_body(aiohttp_client: AiohttpClient) -> None:
    client = await serve(aiohttp_client)
    response = await client.get("/page")
    assert response.status == 200
    assert await response.read() == BODY
    headers = response.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(BODY))
    assert headers["ETag"] == '"abc"'
    assert headers["Cache-Control"] == "no-cache"
    assert headers["Vary"] == "Authorization"
    assert headers["X-Request-ID"] == "rid-1"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "Date" in headers and "Server" in headers
    # Keep-alive: a second request on the same connection is answered too.
    again = await client.get("/page")
    assert await again.read() == BODY


async def test_304_has_no_body_and_no_length(aiohttp_client: AiohttpClient) -> None:
    client = await serve(aiohttp_client)
    response = await client.get("/page", headers={"If-None-Match": '"abc"'})
    assert response.status == 304
    assert await response.read() == b""
    assert "Content-Length" not in response.headers
    assert response.headers["ETag"] == '"abc"'


async def test_head_sends_the_length_without_the_body(aiohttp_client: AiohttpClient) -> None:
    client = await serve(aiohttp_client)
    data = await raw(client, b"HEAD /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"Content-Length: {len(BODY)}".encode() in head
    assert b"Connection: close" in head
    assert rest == b""


async def test_http_10_gets_its_own_status_line(aiohttp_client: AiohttpClient) -> None:
    client = await serve(aiohttp_client)
    data = await raw(client, b"GET /page HTTP/1.0\r\nHost: x\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"Connection" not in head  # HTTP/1.0 closes by default
    assert body == BODY


async def test_added_headers_and_close_are_sent(aiohttp_client: AiohttpClient) -> None:
    client = await serve(aiohttp_client)
    data = await raw(client, b"GET /page?extra=1&close=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"\r\nX-Extra: yes\r\n" in head
    assert b"\r\nConnection: close\r\n" in head
    assert body == BODY


async def test_constant_answer(aiohttp_client: AiohttpClient) -> None:
    client = await serve(aiohttp_client)
    response = await client.get("/healthz")
    assert await response.read() == b'{"status":"ok"}'
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Request-ID"] == Prebuilt.request_id  # no middleware here
