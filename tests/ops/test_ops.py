"""Operations endpoints: liveness, readiness against a Redis we stop, metrics, the API docs."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from config.settings import Settings
from server.api import route_meta
from server.app import create_app
from tests.fixtures.app import AiohttpClient, Client
from tests.fixtures.errors import assert_error
from tests.fixtures.redis_process import RedisProcess
from tests.fixtures.sessions import sign_in_wechat
from tests.fixtures.waiting import eventually


async def wait_for_status(client: Client, path: str, status: int) -> dict[str, Any]:
    """The body once ``path`` answers ``status`` (Redis coming back takes its own time)."""

    async def answered() -> dict[str, Any] | None:
        resp = await client.get(path)
        if resp.status != status:
            return None
        body: dict[str, Any] = await resp.json()
        return body

    return await eventually(answered, what=f"{path} to answer {status}")


async def test_healthz(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_readyz_follows_redis_down_and_back(
    aiohttp_client: AiohttpClient, settings: Settings, own_redis: RedisProcess
) -> None:
    ours = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{own_redis.port}/0"})
    client = await aiohttp_client(create_app(ours))
    ready = await wait_for_status(client, "/readyz", 200)
    assert ready["checks"] == {"mongodb": "ok", "redis": "ok"}

    own_redis.stop()
    down = await client.get("/readyz")
    assert down.status == 503
    assert down.headers["Retry-After"]
    assert (await down.json())["checks"] == {"mongodb": "ok", "redis": "down"}
    # Liveness is not readiness: the process is still alive.
    assert (await client.get("/healthz")).status == 200
    # Without Redis, sign-in and reads still work (rate limits fail open).
    session = await sign_in_wechat(client, "no-redis")
    assert (await client.get("/api/v1/me", headers=session.headers)).status == 200

    own_redis.start()
    back = await wait_for_status(client, "/readyz", 200)
    assert back["checks"]["redis"] == "ok"


async def test_logout_while_redis_is_down_is_503_and_retry_works(
    aiohttp_client: AiohttpClient, settings: Settings, own_redis: RedisProcess
) -> None:
    ours = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{own_redis.port}/0"})
    client = await aiohttp_client(create_app(ours))
    await wait_for_status(client, "/readyz", 200)
    session = await sign_in_wechat(client, "flaky")
    own_redis.stop()
    failed = await client.post("/api/v1/auth/logout", headers=session.headers)
    assert failed.status == 503
    assert_error(await failed.json(), "unavailable")
    # Redis down: revocation is checked in MongoDB, where the logout was recorded.
    assert (await client.get("/api/v1/me", headers=session.headers)).status == 401
    own_redis.start()
    await wait_for_status(client, "/readyz", 200)
    # Redis back, without the marker: the retried logout must still leave the token dead.
    retry = await client.post("/api/v1/auth/logout", headers=session.headers)
    assert retry.status in (204, 401)
    assert (await client.get("/api/v1/me", headers=session.headers)).status == 401


async def test_readyz_503_when_mongodb_is_unreachable(
    aiohttp_client: AiohttpClient, settings: Settings, unused_tcp_port: int
) -> None:
    dead = settings.model_copy(
        update={
            "mongodb_uri": f"mongodb://127.0.0.1:{unused_tcp_port}/",
            "mongodb_timeout_ms": 300,
        }
    )
    client = await aiohttp_client(create_app(dead))
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["checks"]["mongodb"] == "down"
    login = await client.post("/api/v1/auth/wechat", json={"code": "dev:nodb"})
    assert login.status == 503
    assert_error(await login.json(), "unavailable")


async def test_metrics_exposition(client: Client) -> None:
    await client.get("/healthz")
    await client.get("/api/v1/me")
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert 'jiangxin_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/api/v1/me",status="401"' in text
    assert "jiangxin_http_requests_in_flight" in text


async def test_openapi_is_valid_and_lists_every_route(client: Client) -> None:
    resp = await client.get("/openapi.json")
    doc = await resp.json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    served: set[tuple[str, str]] = set()
    pages: set[tuple[str, str]] = set()
    for route in client.app.router.routes():
        if route.resource is None or route.method == "HEAD":
            continue
        meta = route_meta(route.handler)
        (pages if meta is not None and meta.html else served).add(
            (route.method, route.resource.canonical)
        )
    assert served <= documented, served - documented
    assert pages and not pages & documented  # the console's pages are not the API's
    api_routes = {p for _, p in served if p.startswith("/api/v1")}
    assert {"/api/v1/auth/wechat", "/api/v1/me", "/api/v1/auth/refresh"} <= api_routes
    me = doc["paths"]["/api/v1/me"]
    assert me["get"]["security"] == [{"bearerAuth": []}]
    assert "401" in me["get"]["responses"]
    wechat = doc["paths"]["/api/v1/auth/wechat"]["post"]
    body_ref = wechat["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = doc["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]
    assert body_schema["additionalProperties"] is False
    assert "code" in body_schema["required"]


async def test_docs_page_renders_from_bundled_assets(client: Client) -> None:
    page = await client.get("/docs")
    assert page.status == 200
    html = await page.text()
    assert "swagger-ui" in html and "http" not in html.split("<body>")[1].replace("http-equiv", "")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for asset in (
        "/docs/static/swagger/swagger-ui-bundle.js",
        "/docs/static/swagger/swagger-ui.css",
        "/docs/static/app/docs.js",
    ):
        resp = await client.get(asset)
        assert resp.status == 200, asset
        assert len(await resp.read()) > 100
    assert (await client.get("/docs/static/swagger/../../config/settings.py")).status == 404
    assert (await client.get("/docs/static/app/docs.html")).status == 404
