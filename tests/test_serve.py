"""``python -m server serve`` as deployed: several worker processes on one port, shared
limits and revocation across processes, and a SIGTERM that drains in-flight requests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bench.common import children_of, free_port
from server.wechat_fake import FakeWeChatState, start_fake_wechat
from tests.conftest import (
    FAKE_APP_ID,
    FAKE_APP_SECRET,
    MONGODB_URI,
    REDIS_URL,
    away_from_window_edge,
    drop_test_state,
    make_settings,
)

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    base_url: str
    port: int


@pytest.fixture
def start_server() -> Iterator[object]:
    started: list[tuple[subprocess.Popen[bytes], dict[str, str]]] = []

    def start(workers: int, **env_overrides: str) -> LiveServer:
        port = free_port()
        unique = uuid.uuid4().hex[:12]
        env = {
            **os.environ,
            "APP_ENV": "development",
            "WECHAT_APP_ID": "",
            "MONGODB_URI": MONGODB_URI,
            "MONGODB_DB": f"jx_test_serve_{unique}",
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": f"jxtest:serve:{unique}:",
            "ACCESS_LOG": "false",
            "LOG_LEVEL": "WARNING",
            "SHUTDOWN_TIMEOUT_S": "10",
            **env_overrides,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=env,
        )
        started.append((process, env))
        return LiveServer(process, f"http://127.0.0.1:{port}", port)

    yield start
    for process, env in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        asyncio.run(
            drop_test_state(
                make_settings("", mongodb_db=env["MONGODB_DB"], redis_prefix=env["REDIS_PREFIX"])
            )
        )


async def wait_ready(base_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(150):
            try:
                async with session.get(base_url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server never became ready")


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


async def test_two_workers_share_the_port_and_the_rate_limit(
    start_server: object, fresh_connections: aiohttp.ClientSession
) -> None:
    server = start_server(2, RATE_LIMIT_IP_PER_MINUTE="120")  # type: ignore[operator]
    await wait_ready(server.base_url)
    assert len(children_of(server.process.pid)) >= 2

    async def get_me() -> int:
        async with fresh_connections.get(server.base_url + "/api/v1/me") as resp:
            return resp.status

    await away_from_window_edge(60)
    # 300 anonymous requests at once across both processes: the per-address budget is
    # counted in Redis, so exactly 120 pass (as 401: /me needs a token) and 180 are 429.
    statuses = await asyncio.gather(*(get_me() for _ in range(300)))
    assert statuses.count(401) == 120
    assert statuses.count(429) == 180

    async with fresh_connections.get(server.base_url + "/metrics") as resp:
        metrics = await resp.text()
    served = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("jiangxin_http_requests_total{") and 'route="/api/v1/me"' in line
    )
    assert served == 300  # /metrics adds up every worker


async def test_logout_is_seen_by_every_worker(
    start_server: object, fresh_connections: aiohttp.ClientSession
) -> None:
    server = start_server(2)  # type: ignore[operator]
    await wait_ready(server.base_url)
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


async def test_sigterm_drains_in_flight_requests(start_server: object) -> None:
    # WeChat answers slowly, so the sign-in is in flight when SIGTERM arrives.
    state = FakeWeChatState(app_id=FAKE_APP_ID, app_secret=FAKE_APP_SECRET, delay_s=1.5)
    fake, fake_url = await start_fake_wechat(state)
    try:
        server = start_server(  # type: ignore[operator]
            1,
            APP_ENV="test",
            WECHAT_APP_ID=FAKE_APP_ID,
            WECHAT_APP_SECRET=FAKE_APP_SECRET,
            WECHAT_API_BASE=fake_url,
        )
        await wait_ready(server.base_url)
        async with aiohttp.ClientSession() as session:
            login = asyncio.create_task(
                session.post(server.base_url + "/api/v1/auth/wechat", json={"code": "dev:late"})
            )
            await asyncio.sleep(0.5)  # the handler is now waiting for WeChat
            server.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            # No new connections while the in-flight sign-in still completes.
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get(server.base_url + "/healthz")
            resp = await login
            assert resp.status == 200
            assert "access_token" in await resp.json()
        returncode = await asyncio.to_thread(server.process.wait, 15)
        assert returncode == 0
    finally:
        await fake.cleanup()
