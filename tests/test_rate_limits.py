"""Rate limits on the real Redis: leased budgets never admit more than the limit across
processes and under concurrency, counted budgets are exact, and Redis going away fails
open."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr, ValidationError
from redis.asyncio import Redis

from config.settings import Settings
from handlers.auth.keys import AUTH_SERVICE
from server.app import create_app
from server.clock import SettableClock
from server.degrade import Degrade
from server.keys import METRICS
from server.metrics import Metrics
from server.principal import Role
from server.redis_state import RateLimiter, RedisState, connect_redis
from tests.fixtures.app import REDIS_URL, AiohttpClient, Client, at_window_start, drop_test_state
from tests.fixtures.sessions import sign_in_wechat
from tests.media.test_media_api import jpeg_bytes, local, upload

MakeLimiter = Callable[..., RateLimiter]


@pytest.fixture
async def limiters(clock: SettableClock) -> AsyncIterator[MakeLimiter]:
    """Rate limiters with their own Redis connections (as separate processes have), all
    sharing one key prefix and the test's clock."""
    prefix = f"jxrl:{uuid.uuid4().hex[:8]}:"
    clients: list[Redis] = []

    def make(url: str = REDIS_URL) -> RateLimiter:
        client = connect_redis(url, 0.5)
        clients.append(client)
        return RateLimiter(RedisState(client, prefix), Degrade(Metrics(), clock), clock)

    yield make
    for client in clients:
        await client.aclose()
    cleaner = Redis.from_url(REDIS_URL)
    keys = [key async for key in cleaner.scan_iter(match=prefix + "*")]
    if keys:
        await cleaner.delete(*keys)
    await cleaner.aclose()


async def test_a_leased_budget_is_exact_across_processes(
    limiters: MakeLimiter, clock: SettableClock
) -> None:
    processes = [limiters(), limiters(), limiters()]
    at_window_start(clock, 60)
    # 400 requests at once, spread over three processes; each leases 1/16 of 160.
    waits = await asyncio.gather(
        *(processes[i % 3].hit("ip:203.0.113.7", 160, 60, leased=True) for i in range(400))
    )
    assert sum(wait is None for wait in waits) == 160
    assert all(1 <= wait <= 61 for wait in waits if wait is not None)
    # Another address has a budget of its own.
    assert await processes[0].hit("ip:203.0.113.8", 160, 60, leased=True) is None


async def test_a_process_alone_spends_all_it_leased(
    limiters: MakeLimiter, clock: SettableClock
) -> None:
    limiter = limiters()
    at_window_start(clock, 60)
    waits = [await limiter.hit("user:u1", 48, 60, leased=True) for _ in range(50)]
    assert waits[:48] == [None] * 48
    assert None not in waits[48:]


@pytest.mark.parametrize("limit", [5, 64])
async def test_counted_budgets_are_exact_whatever_their_size(
    limiters: MakeLimiter, clock: SettableClock, limit: int
) -> None:
    first, second = limiters(), limiters()
    at_window_start(clock, 60)
    for i in range(limit - 1):
        assert await (first if i % 2 else second).hit("login-user:ann", limit, 60) is None
    # One short of the limit: not blocked yet (no reservation inflates the count).
    assert await first.blocked_for("login-user:ann", limit, 60) is None
    assert await second.hit("login-user:ann", limit, 60) is None
    assert await first.blocked_for("login-user:ann", limit, 60) is not None
    assert await first.hit("login-user:ann", limit, 60) is not None
    await first.reset("login-user:ann", 60)
    assert await second.hit("login-user:ann", limit, 60) is None


async def test_past_max_leases_buckets_are_counted_exactly(
    limiters: MakeLimiter, clock: SettableClock
) -> None:
    limiter = limiters()
    limiter.MAX_LEASES = 3
    at_window_start(clock, 60)
    for address in range(5):
        assert await limiter.hit(f"ip:198.51.100.{address}", 32, 60, leased=True) is None
    waits = [await limiter.hit("ip:198.51.100.4", 32, 60, leased=True) for _ in range(32)]
    assert waits[:31] == [None] * 31
    assert waits[31] is not None


@pytest.mark.parametrize("limit", [1, 1000])
async def test_limits_fail_open_when_redis_is_gone(
    limiters: MakeLimiter, unused_tcp_port: int, limit: int
) -> None:
    limiter = limiters(f"redis://127.0.0.1:{unused_tcp_port}/0")
    waits = await asyncio.gather(*(limiter.hit("ip:x", limit, 60, leased=True) for _ in range(5)))
    assert waits == [None] * 5
    rendered = limiter.degrade.metrics.render().decode()
    assert 'jiangxin_degraded_total{backend="redis",operation="rate_limit"} 5.0' in rendered


# -- RATE_LIMITS=false ----------------------------------------------------------------


def test_rate_limits_cannot_be_lifted_in_production() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(
            app_env="production",
            rate_limits=False,
            jwt_secret=SecretStr("x" * 40),
            wechat_app_id="wx0123456789",
            wechat_app_secret=SecretStr("s" * 32),
            wechat_push_token=SecretStr("t" * 32),
        )
    assert "RATE_LIMITS=false lifts every rate limit" in str(caught.value)
    assert Settings(app_env="development", rate_limits=False).rate_limits is False


async def test_rate_limits_false_lifts_every_limit_and_the_sign_in_throttle(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock
) -> None:
    budgets = {
        "rate_limit_ip_per_minute": 1,
        "rate_limit_user_per_minute": 1,
        "media_uploads_per_user_per_hour": 1,
        "media_rate_limit_ip_per_minute": 1,
        "login_failures_max": 1,
        "login_account_failures_max": 1,
        "login_address_failures_max": 1,
    }

    async def statuses(client: Client) -> set[int]:
        seen: set[int] = set()
        alice = await sign_in_wechat(client, "alice")
        await client.app[AUTH_SERVICE].create_staff_user("admin", "correct-horse-1", [Role.admin])
        for _ in range(3):
            seen.add((await client.get("/api/v1/me", headers=alice.headers)).status)
            seen.add((await client.get("/api/v1/stories")).status)
            wrong = {"username": "admin", "password": "wrong-horse-1"}
            seen.add((await client.post("/api/v1/auth/login", json=wrong)).status)
            photo = await upload(client, alice, jpeg_bytes(color="navy"))
            seen.add(photo.status)
            if photo.status == 201:
                url = (await photo.json())["urls"]["thumb"]
                seen.add((await client.get(local(url))).status)
        return seen

    at_window_start(clock, 3600)
    limited = await aiohttp_client(create_app(settings.model_copy(update=budgets), clock=clock))
    assert 429 in await statuses(limited)
    lifted = settings.model_copy(  # a database and a Redis prefix of its own
        update={
            **budgets,
            "rate_limits": False,
            "mongodb_db": settings.mongodb_db + "_unlimited",
            "redis_prefix": settings.redis_prefix + "unlimited:",
        }
    )
    unlimited = await aiohttp_client(create_app(lifted, clock=clock))
    try:
        assert await statuses(unlimited) == {200, 201, 401}
        verified = unlimited.app[METRICS].registry.get_sample_value(
            "jiangxin_password_verifications_total"
        )
        assert verified == 3  # every wrong guess reached argon2: no throttle
    finally:
        await drop_test_state(lifted)
