"""Ids are canonicalised once, at the edge (server/ids.py): another spelling of an id is
the same object or not found, never a second one (issue 9, item 3)."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.media.keys import MEDIA_SERVICE
from server.ids import canonical_media_id, canonical_object_id
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.media.test_media_api import jpeg_bytes, upload
from tests.stories.conftest import create_story, publish


def spellings(object_id: str) -> list[str]:
    """The id, upper-cased, and in mixed case (every other letter upper)."""
    mixed, upper_next = [], True
    for char in object_id:
        if char.isalpha():
            mixed.append(char.upper() if upper_next else char)
            upper_next = not upper_next
        else:
            mixed.append(char)
    variants = [object_id, object_id.upper(), "".join(mixed)]
    assert len(set(variants)) == 3, object_id
    return variants


def test_canonical_spellings() -> None:
    oid = "6b0f1c2d3e4f5a6b7c8d9e0f"
    assert canonical_object_id(oid.upper()) == oid
    assert canonical_object_id("6B0f1C2d3E4f5A6b7C8d9E0f") == oid
    for bad in ("", "6b0f", oid + "0", " " + oid[1:], "g" * 24, "İ" * 24, None, 12):
        assert canonical_object_id(bad) is None, bad
    media = "0123456789abcdef" * 2
    assert canonical_media_id(media) == media
    assert canonical_media_id(media.upper()) is None  # media: one exact spelling


@pytest.fixture
async def story(client: Client, staff: dict[str, Session]) -> dict[str, Any]:
    return await publish(client, staff, (await create_story(client, staff["editor"]))["id"])


async def test_one_like_whatever_the_spelling_of_the_id(
    client: Client, story: dict[str, Any]
) -> None:
    reader = await sign_in_wechat(client, "liker")
    answers = []
    for spelling in spellings(story["id"]):
        resp = await client.post(f"/api/v1/stories/{spelling}/like", headers=reader.headers)
        assert resp.status == 200, spelling
        answers.append(await resp.json())
    assert answers == [{"liked": True, "likes": 1}] * 3
    for spelling in spellings(story["id"]):
        fav = await client.post(f"/api/v1/stories/{spelling}/favorite", headers=reader.headers)
        assert await fav.json() == {"favorited": True, "favorites": 1}
    detail = await (
        await client.get(f"/api/v1/stories/{story['id'].upper()}", headers=reader.headers)
    ).json()
    assert detail["id"] == story["id"]
    assert detail["liked"] is True and detail["favorited"] is True
    assert detail["stats"]["likes"] == 1 and detail["stats"]["favorites"] == 1
    mine = await (await client.get("/api/v1/me/favorites", headers=reader.headers)).json()
    assert [s["id"] for s in mine["items"]] == [story["id"]]
    # Taking it back under another spelling takes back the one like.
    off = await client.delete(
        f"/api/v1/stories/{spellings(story['id'])[2]}/like", headers=reader.headers
    )
    assert await off.json() == {"liked": False, "likes": 0}


async def test_comments_and_staff_routes_take_any_spelling_as_the_same_story(
    client: Client, staff: dict[str, Session], story: dict[str, Any]
) -> None:
    reader = await sign_in_wechat(client, "commenter")
    upper = story["id"].upper()
    posted = await client.post(
        f"/api/v1/stories/{upper}/comments", json={"text": "向劳模学习"}, headers=reader.headers
    )
    assert posted.status == 201, await posted.text()
    comment = await posted.json()
    assert comment["story_id"] == story["id"]
    listed = await (await client.get(f"/api/v1/stories/{story['id']}/comments")).json()
    assert [c["id"] for c in listed["items"]] == [comment["id"]]
    admin = await client.get(f"/api/v1/admin/stories/{upper}", headers=staff["reviewer"].headers)
    assert (await admin.json())["id"] == story["id"]
    edited = await client.patch(
        f"/api/v1/admin/stories/{upper}",
        json={"revision": story["revision"], "summary": "摘要"},
        headers=staff["editor"].headers,
    )
    assert edited.status == 200, await edited.text()
    revisions = await client.get(
        f"/api/v1/admin/stories/{spellings(story['id'])[2]}/revisions",
        headers=staff["reviewer"].headers,
    )
    assert revisions.status == 200
    # Anything that is no id at all is not found.
    for path in (
        f"/api/v1/stories/{story['id']}0",
        f"/api/v1/stories/{story['id'][:-1]}g",
        f"/api/v1/stories/{story['id'][:-1]}/comments",
    ):
        assert (await client.get(path)).status == 404, path


async def test_person_ids_in_bodies_and_queries_are_canonical(
    client: Client, staff: dict[str, Session]
) -> None:
    editor = staff["editor"]
    person = await (
        await client.post("/api/v1/admin/people", json={"name": "许振超"}, headers=editor.headers)
    ).json()
    upper = person["id"].upper()
    draft = await create_story(client, editor, person_ids=[upper, person["id"]])
    assert [p["id"] for p in draft["people"]] == [person["id"]]  # one person, once
    await publish(client, staff, draft["id"])
    by_person = await (await client.get("/api/v1/stories", params={"person_id": upper})).json()
    assert [s["id"] for s in by_person["items"]] == [draft["id"]]
    detail = await (await client.get(f"/api/v1/people/{upper}")).json()
    assert detail["id"] == person["id"]
    assert [s["id"] for s in detail["stories"]] == [draft["id"]]
    patched = await client.patch(
        f"/api/v1/admin/people/{upper}", json={"bio": "桥吊专家"}, headers=editor.headers
    )
    assert (await patched.json())["id"] == person["id"]
    bad = await client.post(
        "/api/v1/admin/stories",
        json={"title": "x", "category": "policy", "person_ids": ["not-an-id"]},
        headers=editor.headers,
    )
    assert bad.status == 422
    assert "person_ids.0" in (await bad.json())["error"]["details"]["fields"]


async def test_a_media_id_has_one_spelling_in_a_story_too(
    client: Client, staff: dict[str, Session]
) -> None:
    editor = staff["editor"]
    media = await (await upload(client, editor, jpeg_bytes(color="gold"))).json()
    for spelling in spellings(media["id"])[1:]:
        resp = await client.post(
            "/api/v1/admin/stories",
            json={"title": "x", "category": "policy", "cover_media_id": spelling},
            headers=editor.headers,
        )
        assert resp.status == 422, spelling
        assert_error(await resp.json(), "media_not_found")
        assert (await client.get(f"/media/{spelling}/thumb")).status == 404
    doc = await client.app[MEDIA_SERVICE].repo.get(media["id"])
    assert doc is not None and doc["referenced_by"] == []
