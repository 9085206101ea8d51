"""The staff sign-in throttle on the real Redis: counted before argon2, per account and
address, per account (slowed, never locked for everyone), per address (a school behind
one NAT address), reset by a success; and where the app believes X-Forwarded-For."""

from __future__ import annotations

import asyncio

import pytest

from config.settings import Settings
from handlers.auth.keys import AUTH_SERVICE
from server.app import create_app
from server.clock import SettableClock
from server.keys import METRICS
from server.principal import Role
from tests.fixtures.app import AiohttpClient, Client, at_window_start
from tests.fixtures.errors import assert_error

PASSWORD = "correct-horse-battery"
STRANGER = "198.51.100.66"
SCHOOL = "203.0.113.10"  # one NAT address for a whole school


@pytest.fixture
async def proxied(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock
) -> Client:
    """The app behind our proxy (the test client's 127.0.0.1): X-Forwarded-For says who.
    The per-address request limit is lifted: what is tested is the sign-in throttle
    (with small budgets: each verification costs argon2's time)."""
    ours = settings.model_copy(
        update={
            "trusted_proxy_networks": "127.0.0.1/32",
            "rate_limit_ip_per_minute": 100_000,
            "login_failures_max": 3,
            "login_account_failures_max": 6,
        }
    )
    client = await aiohttp_client(create_app(ours, clock=clock))
    at_window_start(clock, ours.login_failures_window_s)
    for username, role in (("admin", Role.admin), ("teacher2", Role.teacher)):
        await client.app[AUTH_SERVICE].create_staff_user(username, PASSWORD, [role])
    return client


async def login(client: Client, username: str, password: str, address: str) -> int:
    resp = await client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )
    return resp.status


def verifications(client: Client) -> float:
    value = client.app[METRICS].registry.get_sample_value("jiangxin_password_verifications_total")
    return value or 0.0


async def test_600_parallel_guesses_let_only_the_budget_reach_argon2(proxied: Client) -> None:
    budget = proxied.app[AUTH_SERVICE].settings.login_failures_max
    before = verifications(proxied)
    statuses = await asyncio.gather(
        *(login(proxied, "admin", f"guess-{i}", STRANGER) for i in range(600))
    )
    assert verifications(proxied) - before == budget
    assert statuses.count(401) == budget
    assert statuses.count(429) == 600 - budget
    # The right password from that address waits too: it is the guesser's address.
    assert await login(proxied, "admin", PASSWORD, STRANGER) == 429


async def test_a_flood_at_admin_locks_out_neither_admin_nor_colleagues(proxied: Client) -> None:
    await asyncio.gather(*(login(proxied, "admin", f"guess-{i}", SCHOOL) for i in range(600)))
    # Another staff member behind the same NAT address signs in.
    assert await login(proxied, "teacher2", PASSWORD, SCHOOL) == 200
    # And the admin, from another address, too.
    assert await login(proxied, "admin", PASSWORD, "192.0.2.1") == 200


async def test_guesses_from_many_addresses_slow_the_account_down(
    proxied: Client, clock: SettableClock
) -> None:
    settings = proxied.app[AUTH_SERVICE].settings
    # A botnet spends the account's budget, each address well under its own.
    for i in range(settings.login_account_failures_max):
        assert await login(proxied, "admin", "guess", f"198.51.100.{i % 100}") == 401
    # Now each address has one attempt per window: a second guess is refused unverified.
    before = verifications(proxied)
    assert await login(proxied, "admin", "guess", "198.51.100.0") == 429
    assert verifications(proxied) == before
    # The owner, from an address of their own, still signs in with the right password.
    assert await login(proxied, "admin", PASSWORD, "192.0.2.7") == 200
    # The next window, the account is back to normal.
    clock.advance(settings.login_failures_window_s)
    assert await login(proxied, "admin", "guess", "198.51.100.0") == 401


async def test_one_address_has_a_large_budget_over_all_accounts(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock
) -> None:
    ours = settings.model_copy(
        update={"trusted_proxy_networks": "127.0.0.1/32", "login_address_failures_max": 8}
    )
    client = await aiohttp_client(create_app(ours, clock=clock))
    at_window_start(clock, ours.login_failures_window_s)
    await client.app[AUTH_SERVICE].create_staff_user("teacher3", PASSWORD, [Role.teacher])
    for i in range(8):  # 8 accounts, one wrong guess each, from one address
        assert await login(client, f"user{i}", "guess", SCHOOL) == 401
    resp = await client.post(
        "/api/v1/auth/login",
        json={"username": "teacher3", "password": PASSWORD},
        headers={"X-Forwarded-For": SCHOOL},
    )
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert_error(await resp.json(), "rate_limited")
    assert await login(client, "teacher3", PASSWORD, "192.0.2.9") == 200


async def test_a_success_resets_the_address_budget_for_that_account(proxied: Client) -> None:
    budget = proxied.app[AUTH_SERVICE].settings.login_failures_max
    for _ in range(budget - 1):
        assert await login(proxied, "teacher2", "typo", SCHOOL) == 401
    assert await login(proxied, "teacher2", PASSWORD, SCHOOL) == 200
    for _ in range(budget):
        assert await login(proxied, "teacher2", "typo", SCHOOL) == 401
    assert await login(proxied, "teacher2", PASSWORD, SCHOOL) == 429


async def test_x_forwarded_for_is_believed_only_from_our_proxies(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock
) -> None:
    async def statuses(networks: str, forwarded: list[str]) -> list[int]:
        ours = settings.model_copy(
            update={"trusted_proxy_networks": networks, "rate_limit_ip_per_minute": 3}
        )
        client = await aiohttp_client(create_app(ours, clock=clock))
        at_window_start(clock, 60)
        return [
            (await client.get("/api/v1/me", headers={"X-Forwarded-For": xff})).status
            for xff in forwarded
        ]

    forged = [f"203.0.113.{i}" for i in range(4)]
    # The peer (127.0.0.1) is no proxy of ours: a client cannot pick its own address.
    assert await statuses("10.0.0.0/8", forged) == [401, 401, 401, 429]
    assert await statuses("", forged) == [401, 401, 401, 429]
    # From our proxy, the hop it appended is the client's; what the client wrote left
    # of it is not believed.
    assert await statuses("127.0.0.1/32", forged) == [401] * 4
    spoofed = [f"203.0.113.{i}, 198.51.100.1" for i in range(4)]
    assert await statuses("127.0.0.1/32", spoofed) == [401, 401, 401, 429]
    # Through two proxies of ours (nginx, then a load balancer in 10/8).
    chained = [f"198.51.100.{i}, 10.1.2.3" for i in range(4)]
    assert await statuses("127.0.0.1/32,10.0.0.0/8", chained) == [401] * 4


def test_proxy_networks_must_be_networks() -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXY_NETWORKS"):
        Settings(trusted_proxy_networks="10.0.0.0/8,nginx")


async def test_without_redis_the_process_counts_and_staff_still_sign_in(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock, unused_tcp_port: int
) -> None:
    ours = settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{unused_tcp_port}/0",
            "trusted_proxy_networks": "127.0.0.1/32",
            "login_failures_max": 3,
        }
    )
    client = await aiohttp_client(create_app(ours, clock=clock))
    at_window_start(clock, ours.login_failures_window_s)
    await client.app[AUTH_SERVICE].create_staff_user("admin", PASSWORD, [Role.admin])
    before = verifications(client)
    statuses = await asyncio.gather(
        *(login(client, "admin", f"guess-{i}", STRANGER) for i in range(200))
    )
    assert verifications(client) - before == 3
    assert statuses.count(429) == 197
    assert await login(client, "admin", PASSWORD, "192.0.2.1") == 200
