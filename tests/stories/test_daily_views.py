"""Story views per Asia/Shanghai day (the dashboard's "most read this week"): counted in
the process as before, sent to Redis with the day of the flush, stored by the worker in
the story's total and in its day, each batch once."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from handlers.stories.keys import ENGAGEMENT_SERVICE
from handlers.stories.views import ViewCounter
from server.clock import SHANGHAI, SettableClock
from server.degrade import Degrade
from server.keys import DEGRADE, REDIS
from server.redis_state import RedisState, connect_redis
from tests.fixtures.app import Client
from tests.fixtures.sessions import Session
from tests.stories.conftest import create_story, publish


async def published(client: Client, staff: dict[str, Session], title: str) -> str:
    story = await create_story(client, staff["editor"], title=title)
    await publish(client, staff, story["id"])
    return str(story["id"])


def before_midnight(clock: SettableClock, seconds: int) -> None:
    """The clock moved on to ``seconds`` before the Shanghai midnight after tomorrow's."""
    midnight = datetime.combine(clock.today() + timedelta(days=2), time(0), SHANGHAI)
    clock.set(midnight - timedelta(seconds=seconds))


async def total_views(client: Client, story_id: str) -> int:
    return (await client.app[ENGAGEMENT_SERVICE].counters([story_id]))[story_id]["views"]


async def read(client: Client, story_id: str, times: int) -> None:
    for _ in range(times):
        resp = await client.get(f"/api/v1/stories/{story_id}")
        assert resp.status == 200, await resp.text()


async def test_views_count_on_the_shanghai_day_they_were_flushed(
    client: Client, staff: dict[str, Session], clock: SettableClock
) -> None:
    engagement = client.app[ENGAGEMENT_SERVICE]
    first = await published(client, staff, "深夜读的")
    second = await published(client, staff, "早上读的")
    # 23:59:30 in Shanghai is 15:59:30 UTC: the same UTC day as the reads after midnight.
    before_midnight(clock, 30)
    await read(client, first, 3)
    await engagement.views.flush()
    clock.advance(timedelta(minutes=1))  # 00:00:30 the next day
    await read(client, first, 1)
    await read(client, second, 2)
    await engagement.views.flush()
    assert await engagement.store_views() == 6

    day_one, day_two, today = await engagement.most_read(days=1)
    assert (day_one, day_two) == (clock.today(), clock.today())
    assert [(i.story_id, i.views, i.total_views) for i in today] == [(second, 2, 2), (first, 1, 4)]
    _, _, both_days = await engagement.most_read(days=2)
    assert [(i.title, i.views, i.status) for i in both_days] == [
        ("深夜读的", 4, "published"),
        ("早上读的", 2, "published"),
    ]
    assert await total_views(client, first) == 4
    clock.advance(timedelta(days=7))  # a week on: nothing read this week
    assert (await engagement.most_read(days=7))[2] == []


async def test_a_view_sent_without_a_day_counts_in_the_total_only(
    client: Client, staff: dict[str, Session]
) -> None:
    """What a process of the code before days were counted sent, while a new worker
    drains."""
    engagement = client.app[ENGAGEMENT_SERVICE]
    story_id = await published(client, staff, "旧格式")
    await client.app[REDIS].client.hincrby(engagement.views.key, story_id, 4)  # type: ignore[misc]
    await read(client, story_id, 1)
    await engagement.views.flush()
    assert await engagement.store_views() == 5
    assert await total_views(client, story_id) == 5
    assert [i.views for i in (await engagement.most_read(days=7))[2]] == [1]


async def test_views_wait_in_the_process_with_their_day_while_redis_is_down(
    client: Client, staff: dict[str, Session], clock: SettableClock
) -> None:
    engagement = client.app[ENGAGEMENT_SERVICE]
    story_id = await published(client, staff, "断网时读的")
    live = client.app[REDIS]
    down = RedisState(connect_redis("redis://127.0.0.1:9/0", 0.2), live.prefix)
    degrade: Degrade = client.app[DEGRADE]
    counter = ViewCounter(down, degrade, clock)
    try:
        before_midnight(clock, 10)
        evening = clock.today().isoformat()
        for _ in range(3):
            counter.record(story_id)
        await counter.flush()  # Redis is down: kept, as views of that evening
        clock.advance(timedelta(minutes=1))
        counter.record(story_id)
        counter.redis = live  # Redis is back
        await counter.flush()
    finally:
        await down.client.aclose()
    raw = await live.client.hgetall(engagement.views.key)  # type: ignore[misc]
    assert {k.decode(): int(v) for k, v in raw.items()} == {
        f"{story_id}:{evening}": 3,
        f"{story_id}:{clock.today().isoformat()}": 1,
    }
    assert await engagement.store_views() == 4
    assert [i.views for i in (await engagement.most_read(days=1))[2]] == [1]
    assert [i.views for i in (await engagement.most_read(days=2))[2]] == [4]


async def test_demo_views_are_added_once(client: Client, staff: dict[str, Session]) -> None:
    engagement = client.app[ENGAGEMENT_SERVICE]
    story_id = await published(client, staff, "示例")
    today = engagement.clock.today()
    days = {today: 5, today - timedelta(days=1): 7, today - timedelta(days=9): 11}
    assert await engagement.add_demo_views(story_id, days) is True
    assert await engagement.add_demo_views(story_id, days) is False
    (item,) = (await engagement.most_read(days=7))[2]
    assert (item.views, item.total_views) == (12, 23)
