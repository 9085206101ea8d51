"""Fixtures: the real app against the real MongoDB-compatible server and real Redis.

``make test`` starts both (scripts/services) and exports MONGODB_URI and REDIS_URL.
Each test gets its own database and Redis key prefix, dropped afterwards. WeChat is
our fake HTTP server (server/wechat_fake.py), started per test.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from config.settings import Settings
from handlers.auth.keys import AUTH_SERVICE
from server.app import create_app
from server.clock import SettableClock
from server.principal import Role
from server.wechat_fake import FakeWeChatState, start_fake_wechat

MONGODB_URI = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27018/")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6390/0")
TEST_JWT_SECRET = "test-secret-" + "x" * 40
FAKE_APP_ID = "wx-test-app"
FAKE_APP_SECRET = "wx-test-secret"

AiohttpClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
Client = TestClient[web.Request, web.Application]


@dataclass
class FakeWeChat:
    state: FakeWeChatState
    base_url: str


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeWeChat]:
    state = FakeWeChatState(app_id=FAKE_APP_ID, app_secret=FAKE_APP_SECRET)
    runner, base_url = await start_fake_wechat(state)
    yield FakeWeChat(state, base_url)
    await runner.cleanup()


def make_settings(fake_wechat_url: str, **overrides: Any) -> Settings:
    unique = uuid.uuid4().hex[:12]
    values: dict[str, Any] = {
        "app_env": "test",
        "mongodb_uri": MONGODB_URI,
        "mongodb_db": f"jx_test_{unique}",
        "redis_url": REDIS_URL,
        "redis_prefix": f"jxtest:{unique}:",
        "jwt_secret": TEST_JWT_SECRET,
        "wechat_app_id": FAKE_APP_ID,
        "wechat_app_secret": FAKE_APP_SECRET,
        "wechat_api_base": fake_wechat_url,
        "access_log": False,
    }
    values.update(overrides)
    return Settings(**values)


async def drop_test_state(settings: Settings) -> None:
    """Drop the test's database and every Redis key under its prefix."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri)
    try:
        await mongo.drop_database(settings.mongodb_db)
    finally:
        await mongo.close()
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=settings.redis_prefix + "*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def settings(fake_wechat: FakeWeChat) -> AsyncIterator[Settings]:
    settings = make_settings(fake_wechat.base_url)
    yield settings
    await drop_test_state(settings)


@pytest.fixture
def clock() -> SettableClock:
    """The test app's clock: it stands still until the test moves it (never sleep for
    time to pass). Starts now, to the millisecond (what MongoDB keeps)."""
    now = datetime.now(UTC)
    return SettableClock(now.replace(microsecond=now.microsecond // 1000 * 1000))


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock) -> Client:
    return await aiohttp_client(create_app(settings, clock=clock))


@dataclass
class Session:
    """A signed-in user as the tests see them."""

    user_id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_in_wechat(client: Client, name: str) -> Session:
    resp = await client.post("/api/v1/auth/wechat", json={"code": f"dev:{name}"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return Session(body["user"]["id"], body["access_token"], body["refresh_token"])


async def sign_in_staff(client: Client, username: str, *roles: Role) -> Session:
    password = f"pw-{username}-{uuid.uuid4().hex[:8]}"
    await client.app[AUTH_SERVICE].create_staff_user(username, password, list(roles))
    resp = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return Session(body["user"]["id"], body["access_token"], body["refresh_token"])


async def away_from_window_edge(window_s: int, margin_s: float = 5.0) -> None:
    """Rate limits count in fixed windows: start a counting test well inside one."""
    into_window = time.time() % window_s
    if into_window > window_s - margin_s:
        await asyncio.sleep(window_s - into_window + 0.05)


def assert_error(body: dict[str, Any], code: str) -> None:
    """The API.md envelope with ``code``."""
    assert set(body) == {"error", "request_id"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert body["request_id"]
