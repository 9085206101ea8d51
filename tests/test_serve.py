"""``python -m server serve`` as deployed: several worker processes on one port, shared
limits and revocation across processes, and a SIGTERM that drains in-flight requests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from redis.asyncio import Redis

from config.settings import Settings
from scripts.processes import children_of
from tests.fixtures.live_server import LiveServer, LiveServers
from tests.fixtures.waiting import eventually
from tests.fixtures.wechat import FakeWeChat


@pytest.fixture
async def fresh_connections() -> AsyncIterator[aiohttp.ClientSession]:
    # A new connection per request lets the kernel spread them over the workers.
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True, limit=100)
    ) as session:
        yield session


async def sign_in(session: aiohttp.ClientSession, base_url: str, name: str) -> str:
    async with session.post(base_url + "/api/v1/auth/wechat", json={"code": f"dev:{name}"}) as r:
        assert r.status == 200
        token: str = (await r.json())["access_token"]
        return token


async def windows_counted(server: LiveServer, bucket: str) -> int:
    """In how many rate-limit windows the server counted ``bucket`` (a Redis key each)."""
    redis = Redis.from_url(server.settings.redis_url)
    try:
        pattern = f"{server.settings.redis_prefix}rl:{bucket}:*"
        return len([key async for key in redis.scan_iter(match=pattern)])
    finally:
        await redis.aclose()


async def test_two_workers_share_the_port_and_the_rate_limit(
    live_server: LiveServers, fresh_connections: aiohttp.ClientSession
) -> None:
    # Behind one trusted proxy, so that each burst can come from an address of its own.
    server = await live_server(
        workers=2, rate_limit_ip_per_minute=120, trusted_proxy_networks="127.0.0.1/32"
    )
    assert len(children_of(server.process.pid)) >= 2

    async def get_me(address: str) -> int:
        headers = {"X-Forwarded-For": address}
        async with fresh_connections.get(server.base_url + "/api/v1/me", headers=headers) as r:
            return r.status

    # 300 anonymous requests at once across both processes: the per-address budget is
    # counted in Redis, so exactly 120 pass (as 401: /me needs a token) and 180 are 429.
    # Budgets are per minute of the servers' own clock, which this test cannot set: a
    # burst that straddled a minute's end was counted in two windows, and runs again
    # from another address, the next end now a minute away.
    bursts = 0
    for address in ("203.0.113.1", "203.0.113.2"):
        statuses = await asyncio.gather(*(get_me(address) for _ in range(300)))
        bursts += 1
        if await windows_counted(server, f"ip:{address}") == 1:
            break
    else:
        raise AssertionError("two bursts in a row straddled the end of a minute")
    assert statuses.count(401) == 120
    assert statuses.count(429) == 180

    async with fresh_connections.get(server.base_url + "/metrics") as resp:
        metrics = await resp.text()
    served = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("jiangxin_http_requests_total{") and 'route="/api/v1/me"' in line
    )
    assert served == 300 * bursts  # /metrics adds up every worker


async def test_logout_is_seen_by_every_worker(
    live_server: LiveServers, fresh_connections: aiohttp.ClientSession
) -> None:
    server = await live_server(workers=2)
    token = await sign_in(fresh_connections, server.base_url, "multi")
    headers = {"Authorization": f"Bearer {token}"}
    async with fresh_connections.post(
        server.base_url + "/api/v1/auth/logout", headers=headers
    ) as r:
        assert r.status == 204

    async def get_me() -> int:
        async with fresh_connections.get(server.base_url + "/api/v1/me", headers=headers) as r:
            return r.status

    statuses = await asyncio.gather(*(get_me() for _ in range(100)))
    assert set(statuses) == {401}


async def test_sigterm_drains_in_flight_requests(
    live_server: LiveServers,
    settings: Settings,
    fake_wechat: FakeWeChat,
    fresh_connections: aiohttp.ClientSession,
) -> None:
    # Our fake WeChat holds its answer, so the sign-in is in flight when SIGTERM arrives
    # (and the server's WeChat timeout is long enough never to cut it).
    fake_wechat.state.hold = asyncio.Event()
    server = await live_server(settings=settings, wechat_timeout_s=30, shutdown_timeout_s=10)

    async def refuses_new_connections() -> bool:
        try:
            async with fresh_connections.get(server.base_url + "/healthz") as resp:
                await resp.read()
        except aiohttp.ClientConnectionError:
            return True
        return False

    async with aiohttp.ClientSession() as session:
        login = asyncio.create_task(
            session.post(server.base_url + "/api/v1/auth/wechat", json={"code": "dev:late"})
        )
        await asyncio.wait_for(fake_wechat.state.arrived.wait(), timeout=10)
        # The handler is now waiting for WeChat.
        server.send_signal(signal.SIGTERM)
        await eventually(refuses_new_connections, what="the listener to close")
        # No new connections while the in-flight sign-in still completes.
        assert not login.done()
        fake_wechat.state.hold.set()
        resp = await login
        assert resp.status == 200
        assert "access_token" in await resp.json()
    assert await server.wait(15) == 0


def serve_exits(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m server serve ARGS`` with only ``env`` of ours (no APP_ENV, no secrets
    inherited), expected to refuse at once."""
    ours = {name.upper() for name in Settings.model_fields}
    inherited = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    return subprocess.run(
        [sys.executable, "-m", "server", "serve", "--port", "1", *args],
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_app_env_it_is_production_and_refuses_the_development_secret() -> None:
    done = serve_exits()
    assert done.returncode == 1
    assert "APP_ENV=production (the default)" in done.stderr
    assert "JWT_SECRET of at least 32 characters" in done.stderr
    assert "WECHAT_APP_ID" in done.stderr  # so no dev: sign-ins either
    assert "APP_ENV=development" in done.stderr


def test_development_mode_serves_on_loopback_only() -> None:
    for host in ("0.0.0.0", "192.0.2.1", "example.org"):  # noqa: S104 (refused, the point)
        done = serve_exits("--host", host, APP_ENV="development")
        assert done.returncode == 1
        assert f"APP_ENV=development serves on a loopback address only, not {host!r}" in (
            done.stderr
        )
