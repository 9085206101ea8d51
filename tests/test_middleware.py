"""The middleware on a bare Application: envelope, request id, headers, auth gate, limits."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from pydantic import Field, ValidationError
from redis.asyncio import Redis

from config.settings import Settings
from server.access import current_principal
from server.access_log import AccessLog
from server.api import ApiRoutes
from server.authorisation import Access
from server.clock import SettableClock
from server.degrade import Degrade
from server.errors import Conflict, Unauthorized
from server.keys import ACCESS_LOG, AUTHENTICATOR, CLOCK, DEGRADE, METRICS, RATE_LIMITER, SETTINGS
from server.metrics import Metrics
from server.middleware import add_standard_headers, api_middleware
from server.principal import Principal, Role
from server.redis_state import RateLimiter, RedisState, connect_redis
from server.rest import ApiIn, ApiQuery, read_body, read_query, respond
from tests.fixtures.app import REDIS_URL, AiohttpClient, Client, at_window_start
from tests.fixtures.errors import assert_error


class StaticTokens:
    """Authenticator for the bare app: ``role:<name>`` tokens (the real one is tested
    end to end in tests/auth)."""

    async def authenticate(self, token: str) -> Principal:
        kind, _, role = token.partition(":")
        if kind != "role":
            raise Unauthorized(code="token_invalid")
        return Principal(f"user-{role}", "s", frozenset({Role(role)}), "t")


class Item(ApiIn):
    name: str = Field(min_length=1, max_length=10)
    count: int = Field(ge=0)


routes = ApiRoutes(prefix="")


@routes.post("/public/items", "echo", access=Access.public(), body=Item)
async def create_item(request: web.Request) -> web.Response:
    item = await read_body(request, Item)
    return respond(item, status=201)


@routes.get("/private", "signed in", access=Access.signed_in())
async def private(request: web.Request) -> web.Response:
    return respond({"user": current_principal(request).user_id})


@routes.get("/editors", "editors only", access=Access.roles(Role.editor))
async def editors(request: web.Request) -> web.Response:
    return respond({"ok": True})


@routes.get("/boom", "fails", access=Access.public())
async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals: mongodb://admin:hunter2@db")


@routes.get("/conflict", "app error", access=Access.public())
async def conflict(request: web.Request) -> web.Response:
    raise Conflict(details={"why": "state"})


@routes.get("/unlimited", "ops-like", access=Access.public(), rate_limited=False)
async def unlimited(request: web.Request) -> web.Response:
    return respond({"ok": True})


@routes.get("/stream", "streams its own response", access=Access.public())
async def stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    add_standard_headers(request, response)
    await response.prepare(request)
    await response.write(b"chunk")
    return response


async def undeclared(request: web.Request) -> web.Response:
    return respond({"ok": True})


@pytest.fixture
async def bare_app_factory(clock: SettableClock) -> AsyncIterator[Any]:
    prefixes: list[str] = []
    clients: list[Redis] = []

    def factory(redis_url: str = REDIS_URL, **overrides: Any) -> web.Application:
        prefix = f"jxmw:{uuid.uuid4().hex[:8]}:"
        prefixes.append(prefix)
        settings = Settings(app_env="test", redis_prefix=prefix, **overrides)
        app = web.Application(middlewares=[api_middleware], client_max_size=1024)
        app[SETTINGS] = settings
        app[METRICS] = Metrics()
        app[CLOCK] = clock
        app[DEGRADE] = Degrade(app[METRICS], app[CLOCK])
        app[ACCESS_LOG] = AccessLog(io.BytesIO())
        redis = connect_redis(redis_url, 0.5)
        clients.append(redis)
        app[RATE_LIMITER] = RateLimiter(RedisState(redis, prefix), app[DEGRADE], app[CLOCK])
        app[AUTHENTICATOR] = StaticTokens()
        app.router.add_routes(routes.table)
        app.router.add_get("/undeclared", undeclared)
        return app

    yield factory
    cleaner = Redis.from_url(REDIS_URL)
    for prefix in prefixes:
        keys = [k async for k in cleaner.scan_iter(match=prefix + "*")]
        if keys:
            await cleaner.delete(*keys)
    await cleaner.aclose()
    for client in clients:
        await client.aclose()


@pytest.fixture
async def bare(aiohttp_client: AiohttpClient, bare_app_factory: Any) -> Client:
    return await aiohttp_client(bare_app_factory())


async def test_unexpected_error_is_500_without_internals(
    bare: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="jiangxin.app"):
        resp = await bare.get("/boom", headers={"X-Request-ID": "trace-123"})
    assert resp.status == 500
    text = await resp.text()
    assert "hunter2" not in text and "RuntimeError" not in text and "Traceback" not in text
    body = await resp.json()
    assert_error(body, "internal")
    assert body["request_id"] == "trace-123"
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-123"]
    assert logged and logged[0].exc_info is not None  # the stack trace goes to the log only


async def test_request_id_is_echoed_or_made(bare: Client) -> None:
    echoed = await bare.get("/unlimited", headers={"X-Request-ID": "abc-DEF_1.2"})
    assert echoed.headers["X-Request-ID"] == "abc-DEF_1.2"
    made = await bare.get("/unlimited", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(made.headers["X-Request-ID"]) >= 16
    first = await bare.get("/unlimited")
    second = await bare.get("/unlimited")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("DELETE", "/public/items", 405, "method_not_allowed"),
        ("GET", "/conflict", 409, "conflict"),
        ("GET", "/boom", 500, "internal"),
    ],
)
async def test_every_error_has_envelope_id_and_security_headers(
    bare: Client, method: str, path: str, status: int, code: str
) -> None:
    resp = await bare.request(method, path)
    assert resp.status == status
    body = await resp.json()
    assert_error(body, code)
    assert resp.headers["X-Request-ID"] == body["request_id"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


async def test_streamed_responses_carry_the_headers_too(bare: Client) -> None:
    resp = await bare.get("/stream", headers={"X-Request-ID": "stream-1"})
    assert await resp.read() == b"chunk"
    assert resp.headers["X-Request-ID"] == "stream-1"
    assert resp.headers["X-Frame-Options"] == "DENY"


async def test_405_names_the_allowed_methods(bare: Client) -> None:
    resp = await bare.delete("/public/items")
    assert "POST" in resp.headers["Allow"]


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"", 400, "body"),
        (b"[1, 2]", 422, "body"),
        (b'{"name": "ok", "count": "many"}', 422, "count"),
        (b'{"name": "ok"}', 422, "count"),
        (b'{"name": "ok", "count": 1, "admin": true}', 422, "admin"),
        (b'{"name": {"$gt": ""}, "count": 1}', 422, "name.$gt"),
        (b'{"name": "ok", "count": 1, "$where": "1"}', 422, "$where"),
        (b'{"name": "way too long name", "count": 1}', 422, "name"),
    ],
)
async def test_bad_bodies_are_refused_at_the_edge(
    bare: Client, raw: bytes, status: int, field: str | None
) -> None:
    resp = await bare.post("/public/items", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == status
    body = await resp.json()
    assert_error(body, "invalid_request")
    if field is not None:
        assert field in body["error"]["details"]["fields"], body


async def test_good_body_passes(bare: Client) -> None:
    resp = await bare.post("/public/items", json={"name": " pen ", "count": 2})
    assert resp.status == 201
    assert await resp.json() == {"name": "pen", "count": 2}


async def test_oversize_body_is_413(bare: Client) -> None:
    resp = await bare.post(
        "/public/items", data=b"x" * 5000, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert_error(await resp.json(), "payload_too_large")


async def test_signed_in_and_undeclared_routes_need_a_token(bare: Client) -> None:
    for path in ("/private", "/undeclared"):
        resp = await bare.get(path)
        assert resp.status == 401, path
        assert_error(await resp.json(), "unauthorized")
    ok = await bare.get("/private", headers={"Authorization": "Bearer role:resident"})
    assert await ok.json() == {"user": "user-resident"}


async def test_declared_roles_are_enforced(bare: Client) -> None:
    resident = await bare.get("/editors", headers={"Authorization": "Bearer role:resident"})
    assert resident.status == 403
    assert_error(await resident.json(), "forbidden")
    editor = await bare.get("/editors", headers={"Authorization": "Bearer role:editor"})
    assert editor.status == 200
    admin = await bare.get("/editors", headers={"Authorization": "Bearer role:admin"})
    assert admin.status == 200


async def test_rate_limit_per_ip_and_per_user(
    aiohttp_client: AiohttpClient, bare_app_factory: Any, clock: SettableClock
) -> None:
    client = await aiohttp_client(
        bare_app_factory(rate_limit_ip_per_minute=5, rate_limit_user_per_minute=3)
    )
    at_window_start(clock, 60)
    statuses = [(await client.get("/conflict")).status for _ in range(7)]
    assert statuses[:5] == [409] * 5
    assert statuses[5:] == [429, 429]
    limited = await client.get("/conflict")
    assert int(limited.headers["Retry-After"]) >= 1
    assert_error(await limited.json(), "rate_limited")
    # Signed-in users have their own budget, not the address's.
    user = {"Authorization": "Bearer role:student"}
    user_statuses = [(await client.get("/private", headers=user)).status for _ in range(4)]
    assert user_statuses == [200, 200, 200, 429]
    other = await client.get("/private", headers={"Authorization": "Bearer role:teacher"})
    assert other.status == 200
    # Operations routes are not rate-limited.
    assert (await client.get("/unlimited")).status == 200


async def test_rate_limit_fails_open_when_redis_is_down(
    aiohttp_client: AiohttpClient,
    bare_app_factory: Any,
    unused_tcp_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = bare_app_factory(
        redis_url=f"redis://127.0.0.1:{unused_tcp_port}/0", rate_limit_ip_per_minute=1
    )
    client = await aiohttp_client(app)
    with caplog.at_level(logging.WARNING, logger="jiangxin.degraded"):
        statuses = [(await client.get("/conflict")).status for _ in range(3)]
    assert statuses == [409, 409, 409]
    assert any("redis unavailable for rate_limit" in r.getMessage() for r in caplog.records)
    metrics = app[METRICS].render().decode()
    assert 'jiangxin_degraded_total{backend="redis",operation="rate_limit"} 3.0' in metrics


async def test_access_log_has_no_tokens_phones_or_queries(bare: Client) -> None:
    token = "role:resident"
    await bare.get(
        "/private?phone=13800138000&sig=abcdef", headers={"Authorization": f"Bearer {token}"}
    )
    await bare.post("/public/items", json={"name": "13800138000", "count": 1})
    access_log = bare.app[ACCESS_LOG]
    access_log.flush()
    assert isinstance(access_log.stream, io.BytesIO)
    lines = [json.loads(line) for line in access_log.stream.getvalue().splitlines()]
    assert len(lines) == 2
    for line in map(json.dumps, lines):
        assert token not in line and "13800138000" not in line and "abcdef" not in line
    assert lines[0]["route"] == "/private"
    assert lines[0]["status"] == 200
    assert lines[0]["user_id"] == "user-resident"
    assert lines[1]["status"] == 422  # too long a name: refused, and the body is not logged
    assert lines[0]["request_id"] != lines[1]["request_id"]


async def test_metrics_count_requests_by_route_template(bare: Client) -> None:
    await bare.get("/conflict")
    await bare.get("/nowhere/at/all")
    text = bare.app[METRICS].render().decode()
    assert 'route="/conflict",status="409"' in text
    assert 'route="unmatched",status="404"' in text
    assert "jiangxin_http_request_duration_seconds_bucket" in text
    assert "jiangxin_http_requests_in_flight 0.0" in text


class SearchQuery(ApiQuery):
    q: str = Field(min_length=1, max_length=10)


def test_query_models_are_remembered_per_raw_query_string() -> None:
    def parse(query: str) -> str:
        return read_query(make_mocked_request("GET", f"/search?{query}"), SearchQuery).q

    # Two spellings that aiohttp's decoded query_string cannot tell apart.
    assert parse("q=%252B") == "%2B"
    assert parse("q=%2B") == "+"
    assert parse("q=%252B") == "%2B"
    first = read_query(make_mocked_request("GET", "/search?q=abc"), SearchQuery)
    assert read_query(make_mocked_request("GET", "/search?q=abc"), SearchQuery) is first
    # A refused query is refused every time, not remembered.
    for _ in range(2):
        with pytest.raises(ValidationError):
            read_query(make_mocked_request("GET", "/search?q=" + "x" * 11), SearchQuery)
