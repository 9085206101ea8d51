"""Story counters (likes, favourites, comments) as the people who change them and the
people who read them see them: like/unlike answers consistent under concurrency, a
change shown at once to whoever made it (in any server process), and to every other
reader within the counters' short lifetime."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fixtures.app import Client
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.stories.conftest import create_story, publish


async def published(client: Client, staff: dict[str, Session], **fields: Any) -> str:
    story = await create_story(client, staff["editor"], **fields)
    await publish(client, staff, story["id"])
    return str(story["id"])


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
