"""A revoked session never works again, whatever Redis did: came back empty, came back
with its data but without the markers it missed, or was unreachable only for the process
that revoked. Real redis-servers of the test's own, stopped and started."""

from __future__ import annotations

from redis.asyncio import Redis

from config.settings import Settings
from handlers.auth.service import REVOCATIONS_COMPLETE
from server.app import create_app
from server.clock import SettableClock
from tests.fixtures.app import REDIS_URL, AiohttpClient, Client
from tests.fixtures.errors import assert_error
from tests.fixtures.redis_process import RedisProcess
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.fixtures.waiting import eventually


async def ready(client: Client) -> None:
    async def answered() -> bool:
        return (await client.get("/readyz")).status == 200

    await eventually(answered, what="/readyz to answer 200")


async def redis_has(url: str, key: str) -> bool:
    redis = Redis.from_url(url)
    try:
        return bool(await redis.exists(key))
    finally:
        await redis.aclose()


async def me_status(client: Client, session: Session) -> int:
    return (await client.get("/api/v1/me", headers=session.headers)).status


async def logout_while_redis_is_down(client: Client, session: Session) -> None:
    failed = await client.post("/api/v1/auth/logout", headers=session.headers)
    assert failed.status == 503  # the client may retry; MongoDB has recorded it already
    assert_error(await failed.json(), "unavailable")


async def test_revoked_while_redis_was_down_stays_revoked_when_it_comes_back_empty(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: SettableClock,
    own_redis: RedisProcess,
) -> None:
    client = await aiohttp_client(
        create_app(settings.model_copy(update={"redis_url": own_redis.url}), clock=clock)
    )
    await ready(client)
    session = await sign_in_wechat(client, "outage-1")
    own_redis.stop()
    await logout_while_redis_is_down(client, session)
    own_redis.start()
    await ready(client)
    # No retry of the logout: Redis came back without the marker, and the token is dead.
    assert await me_status(client, session) == 401
    # Nor does it come back once the revocations are copied into the new Redis.
    key = settings.redis_prefix + REVOCATIONS_COMPLETE

    async def rebuilt() -> bool:
        return await redis_has(own_redis.url, key)

    await eventually(rebuilt, what="the revocations copied back into Redis")
    assert await me_status(client, session) == 401


async def test_revoked_while_redis_was_down_stays_revoked_when_it_kept_its_data(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: SettableClock,
    own_persistent_redis: RedisProcess,
) -> None:
    redis = own_persistent_redis
    client = await aiohttp_client(
        create_app(settings.model_copy(update={"redis_url": redis.url}), clock=clock)
    )
    await ready(client)
    complete = settings.redis_prefix + REVOCATIONS_COMPLETE

    async def trusted() -> bool:
        return await redis_has(redis.url, complete)

    await eventually(trusted, what="Redis to be known complete")
    session = await sign_in_wechat(client, "outage-2")
    assert await me_status(client, session) == 200
    redis.stop()
    await logout_while_redis_is_down(client, session)
    redis.start()  # with its data: "complete", but without this session's marker
    await ready(client)
    assert await me_status(client, session) == 401
    marker = settings.redis_prefix + "revoked-session:" + session.refresh_token.split(".")[0]

    async def replayed() -> bool:
        return await redis_has(redis.url, marker)

    await eventually(replayed, what="the missed marker written to Redis")
    assert await me_status(client, session) == 401


async def test_revoked_by_a_process_that_could_not_reach_redis(
    aiohttp_client: AiohttpClient, settings: Settings, clock: SettableClock, unused_tcp_port: int
) -> None:
    # Two processes on one database and one Redis, which only the first can reach.
    reaches = await aiohttp_client(create_app(settings, clock=clock))
    cut_off = await aiohttp_client(
        create_app(
            settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{unused_tcp_port}/0"}),
            clock=clock,
        )
    )
    complete = settings.redis_prefix + REVOCATIONS_COMPLETE

    async def trusted() -> bool:
        return await redis_has(REDIS_URL, complete)

    await eventually(trusted, what="Redis to be known complete")
    session = await sign_in_wechat(reaches, "partition")
    assert await me_status(reaches, session) == 200
    await logout_while_redis_is_down(cut_off, session)
    assert await me_status(cut_off, session) == 401

    async def dead_everywhere() -> bool:
        return await me_status(reaches, session) == 401

    # The marker it missed is replayed from MongoDB by the process that reaches Redis.
    await eventually(dead_everywhere, what="the revocation to reach the other process")


async def test_a_process_trusts_redis_from_its_first_request_after_copying_the_revocations(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: SettableClock,
    own_redis: RedisProcess,
) -> None:
    # Not a second after it starts (the loop's first round): a reader's first answers
    # and the next ones must not differ by which side of that second they fell on.
    on_own_redis = settings.model_copy(update={"redis_url": own_redis.url})
    first = await aiohttp_client(create_app(on_own_redis, clock=clock))
    session = await sign_in_wechat(first, "before-the-flush")
    assert (await first.post("/api/v1/auth/logout", headers=session.headers)).status == 204
    await first.close()
    redis = Redis.from_url(own_redis.url)
    try:
        await redis.flushall()  # Redis lost everything while no process was running
        await aiohttp_client(create_app(on_own_redis, clock=clock))
        marker = settings.redis_prefix + "revoked-session:" + session.refresh_token.split(".")[0]
        complete = settings.redis_prefix + REVOCATIONS_COMPLETE
        assert await redis.exists(marker, complete) == 2
    finally:
        await redis.aclose()
