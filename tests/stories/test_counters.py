"""Story counters (likes, favourites, comments) as the people who change them and the
people who read them see them: like/unlike answers consistent under concurrency, a
change shown at once to whoever made it (in any server process), and to every other
reader within the counters' short lifetime."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from config.settings import Settings
from handlers.stories.keys import STORY_COUNTERS
from server.clock import SettableClock
from server.keys import METRICS, RECENT_WRITES, REDIS
from server.recent_writes import HOLD_S
from tests.fixtures.app import Client, unreachable_mongodb
from tests.fixtures.live_server import LiveServers
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.stories.conftest import create_story, publish


async def published(client: Client, staff: dict[str, Session], **fields: Any) -> str:
    story = await create_story(client, staff["editor"], **fields)
    await publish(client, staff, story["id"])
    return str(story["id"])


async def stats(client: Client, sid: str, who: Session | None = None) -> dict[str, int]:
    resp = await client.get(f"/api/v1/stories/{sid}", headers=who.headers if who else None)
    assert resp.status == 200, await resp.text()
    body: dict[str, int] = (await resp.json())["stats"]
    return body


async def feed_stats(client: Client, sid: str, who: Session | None = None) -> dict[str, int]:
    resp = await client.get("/api/v1/stories", headers=who.headers if who else None)
    assert resp.status == 200, await resp.text()
    [item] = [item for item in (await resp.json())["items"] if item["id"] == sid]
    return dict(item["stats"])


async def test_my_like_and_favourite_show_at_once_in_the_story_and_the_feed(
    client: Client, staff: dict[str, Session], clock: SettableClock
) -> None:
    sid = await published(client, staff)
    reader = await sign_in_wechat(client, "liker")
    # Cached (for 30 s) with no likes, by the liker and by an anonymous reader.
    assert (await stats(client, sid, reader))["likes"] == 0
    assert (await feed_stats(client, sid, reader))["likes"] == 0
    assert (await stats(client, sid))["likes"] == 0
    assert (await feed_stats(client, sid))["likes"] == 0
    await client.post(f"/api/v1/stories/{sid}/like", headers=reader.headers)
    await client.post(f"/api/v1/stories/{sid}/favorite", headers=reader.headers)
    detail = await (await client.get(f"/api/v1/stories/{sid}", headers=reader.headers)).json()
    assert (detail["liked"], detail["favorited"]) == (True, True)
    assert (detail["stats"]["likes"], detail["stats"]["favorites"]) == (1, 1)
    mine = await feed_stats(client, sid, reader)
    assert (mine["likes"], mine["favorites"]) == (1, 1)
    await client.delete(f"/api/v1/stories/{sid}/like", headers=reader.headers)
    assert (await stats(client, sid, reader))["likes"] == 0
    assert (await feed_stats(client, sid, reader))["likes"] == 0


async def test_other_readers_see_counters_within_their_short_lifetime(
    client: Client, staff: dict[str, Session], clock: SettableClock
) -> None:
    assert client.app[STORY_COUNTERS].ttl_s == 1.0
    sid = await published(client, staff)
    reader = await sign_in_wechat(client, "another-liker")
    before = await client.get(f"/api/v1/stories/{sid}")
    etag = before.headers["ETag"]
    assert (await before.json())["stats"]["likes"] == 0
    assert (await feed_stats(client, sid))["likes"] == 0
    await client.post(f"/api/v1/stories/{sid}/like", headers=reader.headers)
    # Within the second, anonymous readers get the answer held in the process...
    held = await client.get(f"/api/v1/stories/{sid}", headers={"If-None-Match": etag})
    assert held.status == 304
    clock.advance(1.0)
    # ...then the counters read again, under another ETag, in the story and the feed.
    after = await client.get(f"/api/v1/stories/{sid}", headers={"If-None-Match": etag})
    assert after.status == 200
    assert (await after.json())["stats"]["likes"] == 1
    assert after.headers["ETag"] != etag
    assert (await feed_stats(client, sid))["likes"] == 1
    same = await client.get(
        f"/api/v1/stories/{sid}", headers={"If-None-Match": after.headers["ETag"]}
    )
    assert same.status == 304


async def test_a_reader_who_wrote_nothing_lately_shares_what_the_process_holds(
    client: Client, staff: dict[str, Session], clock: SettableClock
) -> None:
    sid = await published(client, staff)
    reader = await sign_in_wechat(client, "quiet-reader")
    liker = await sign_in_wechat(client, "busy-liker")
    first = await client.get(f"/api/v1/stories/{sid}", headers=reader.headers)
    assert first.headers["Cache-Control"] == "private, no-cache"
    body = await first.json()
    assert (body["liked"], body["favorited"], body["stats"]["likes"]) == (False, False, 0)
    assert (await feed_stats(client, sid, reader))["likes"] == 0
    await client.post(f"/api/v1/stories/{sid}/like", headers=liker.headers)
    # Within the second, the reader (who changed nothing) gets what anyone would...
    held = await client.get(
        f"/api/v1/stories/{sid}", headers={**reader.headers, "If-None-Match": first.headers["ETag"]}
    )
    assert held.status == 304
    assert (await feed_stats(client, sid, reader))["likes"] == 0
    clock.advance(1.0)
    assert (await stats(client, sid, reader))["likes"] == 1
    assert (await feed_stats(client, sid, reader))["likes"] == 1
    # ...until they write: then their own like is in every answer at once.
    await client.post(f"/api/v1/stories/{sid}/favorite", headers=reader.headers)
    mine = await (await client.get(f"/api/v1/stories/{sid}", headers=reader.headers)).json()
    assert (mine["liked"], mine["favorited"], mine["stats"]["favorites"]) == (False, True, 1)
    assert (await feed_stats(client, sid, reader))["favorites"] == 1
    # Their stamp outlives what was held before it: once it has gone (Redis's clock, not
    # the test's: deleted here), what the process holds has their favourite too.
    clock.advance(HOLD_S)
    await client.app[REDIS].client.delete(client.app[RECENT_WRITES].key(reader.user_id))
    later = await client.get(f"/api/v1/stories/{sid}", headers=reader.headers)
    body = await later.json()
    assert (body["liked"], body["favorited"], body["stats"]["favorites"]) == (False, True, 1)
    assert later.headers["Cache-Control"] == "private, no-cache"
    assert (await feed_stats(client, sid, reader))["favorites"] == 1


async def test_an_approved_comment_is_counted_at_once_for_its_author(
    client: Client, staff: dict[str, Session], clock: SettableClock
) -> None:
    sid = await published(client, staff)
    author = await sign_in_wechat(client, "commenter")
    assert (await stats(client, sid, author))["comments"] == 0
    assert (await stats(client, sid))["comments"] == 0
    passed = await client.post(
        f"/api/v1/stories/{sid}/comments", json={"text": "向劳模学习！"}, headers=author.headers
    )
    assert (await passed.json())["status"] == "approved"
    assert (await stats(client, sid, author))["comments"] == 1
    held = await client.post(
        f"/api/v1/stories/{sid}/comments", json={"text": "请审核：待审核"}, headers=author.headers
    )
    assert (await held.json())["status"] == "pending"
    assert (await stats(client, sid, author))["comments"] == 1  # pending is not counted
    approve = await client.post(
        f"/api/v1/admin/comments/{(await held.json())['id']}/approve",
        headers=staff["reviewer"].headers,
    )
    assert approve.status == 200
    assert (await stats(client, sid, author))["comments"] == 2
    assert (await feed_stats(client, sid, author))["comments"] == 2
    clock.advance(1.0)
    assert (await stats(client, sid))["comments"] == 2
    assert (await feed_stats(client, sid))["comments"] == 2


async def test_my_like_shows_at_once_in_another_server_process(
    client: Client, staff: dict[str, Session], settings: Settings, live_server: LiveServers
) -> None:
    sid = await published(client, staff)
    reader = await sign_in_wechat(client, "two-process-liker")
    other = await live_server(settings=settings)  # the same database and Redis
    async with aiohttp.ClientSession(other.base_url, headers=reader.headers) as there:

        async def there_stats(path: str) -> dict[str, int]:
            async with there.get(path) as resp:
                assert resp.status == 200, await resp.text()
                body = await resp.json()
            items = body.get("items", [body])
            return dict(next(item for item in items if item["id"] == sid)["stats"])

        # The other process caches the story and the feed with no likes...
        assert (await there_stats(f"/api/v1/stories/{sid}"))["likes"] == 0
        assert (await there_stats("/api/v1/stories"))["likes"] == 0
        # ...the like goes through this process, the next reads through the other one.
        liked = await client.post(f"/api/v1/stories/{sid}/like", headers=reader.headers)
        assert await liked.json() == {"liked": True, "likes": 1}
        assert (await there_stats(f"/api/v1/stories/{sid}"))["likes"] == 1
        assert (await there_stats("/api/v1/stories"))["likes"] == 1
        async with there.get(f"/api/v1/stories/{sid}") as resp:
            assert (await resp.json())["liked"] is True  # not the flags it held before
        async with there.post(f"/api/v1/stories/{sid}/favorite") as resp:
            assert await resp.json() == {"favorited": True, "favorites": 1}
    assert (await stats(client, sid, reader))["favorites"] == 1
    assert (await feed_stats(client, sid, reader))["favorites"] == 1


async def test_like_answers_are_consistent_under_concurrency(
    client: Client, staff: dict[str, Session]
) -> None:
    sid = await published(client, staff)
    like, favorite = f"/api/v1/stories/{sid}/like", f"/api/v1/stories/{sid}/favorite"
    alone = await sign_in_wechat(client, "double-tapper")

    async def burst(method: str, url: str, user: Session, n: int) -> list[dict[str, Any]]:
        answers = await asyncio.gather(
            *(client.request(method, url, headers=user.headers) for _ in range(n))
        )
        assert {a.status for a in answers} == {200}
        return [await a.json() for a in answers]

    # One user tapping many times at once: the one that adds the like and the ones that
    # find it there all answer the count with it (the stale read answered 0).
    assert {tuple(a.values()) for a in await burst("POST", like, alone, 50)} == {(True, 1)}
    assert {tuple(a.values()) for a in await burst("DELETE", like, alone, 50)} == {(False, 0)}
    assert {tuple(a.values()) for a in await burst("POST", favorite, alone, 50)} == {(True, 1)}
    assert {tuple(a.values()) for a in await burst("DELETE", favorite, alone, 50)} == {(False, 0)}

    # Several users at once, each in bursts of taps, liking and taking it back: every
    # answer counts its own user's state, and the counts end at the distinct likers.
    users = await asyncio.gather(*(sign_in_wechat(client, f"tapper{i}") for i in range(6)))

    async def taps(i: int, user: Session) -> list[tuple[str, dict[str, Any]]]:
        seen: list[tuple[str, dict[str, Any]]] = []
        for round_ in range(5 if i % 2 == 0 else 4):  # even users end liking
            method = "POST" if round_ % 2 == 0 else "DELETE"
            for url in (like, favorite):
                seen += [(method, a) for a in await burst(method, url, user, 5)]
        return seen

    everything = [a for seen in await asyncio.gather(*map(taps, range(6), users)) for a in seen]
    assert len(everything) == 3 * 5 * 10 + 3 * 4 * 10  # 270 requests, all at once
    for method, answer in everything:
        on, count = answer.get("liked", answer.get("favorited")), answer.get("likes", 0)
        count = answer.get("favorites", count)
        if method == "POST":
            assert on is True and 1 <= count <= 6, answer
        else:
            assert on is False and 0 <= count <= 5, answer
    detail = await (await client.get(f"/api/v1/stories/{sid}", headers=users[0].headers)).json()
    assert (detail["stats"]["likes"], detail["stats"]["favorites"]) == (3, 3)
    assert await (await client.post(like, headers=users[0].headers)).json() == {
        "liked": True,
        "likes": 3,
    }


async def test_cached_counters_go_out_when_mongodb_does_not_answer(
    client: Client, staff: dict[str, Session], unused_tcp_port: int
) -> None:
    from handlers.stories.counters import LiveCounters
    from handlers.stories.engagement import EngagementService
    from handlers.stories.repo import EngagementRepo
    from server.cache import CachedJson
    from server.keys import CLOCK, DEGRADE

    sid = await published(client, staff)
    body = await (await client.get(f"/api/v1/stories/{sid}")).read()
    gone = unreachable_mongodb(unused_tcp_port)
    app, engagement = client.app, client.app[STORY_COUNTERS].engagement
    without = EngagementService(
        EngagementRepo(gone["nowhere"]),
        engagement.feed,
        engagement.views,
        engagement.recent_writes,
        app[CLOCK],
    )
    counters = LiveCounters(without, app[DEGRADE], app[CLOCK], 1.0)
    try:
        out = await counters.recent(("story", sid), CachedJson.of(body))
    finally:
        await gone.close()
    assert orjson.loads(out.body)["stats"] == orjson.loads(body)["stats"]
    assert 'operation="story_counters"' in app[METRICS].render().decode()
