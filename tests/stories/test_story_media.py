"""Photos that stories and people show: every one checked before anything is written
(exists, the editor's, uploaded for stories, public), so a child's check-in photo can
never reach a public object and a refusal leaves nothing behind (issue 9, item 1)."""

from __future__ import annotations

from typing import Any

from handlers.media.keys import MEDIA_SERVICE
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.media.test_media_api import jpeg_bytes, upload
from tests.stories.conftest import create_story, publish


async def photo(client: Client, who: Session, color: str, purpose: str = "story") -> str:
    resp = await upload(client, who, jpeg_bytes(color=color), purpose=purpose)
    assert resp.status == 201, await resp.text()
    media_id: str = (await resp.json())["id"]
    return media_id


async def refs(client: Client, media_id: str) -> list[str]:
    doc = await client.app[MEDIA_SERVICE].repo.get(media_id)
    assert doc is not None
    found: list[str] = doc["referenced_by"]
    return found


async def test_a_residents_checkin_photo_never_becomes_a_persons_portrait(
    client: Client, staff: dict[str, Session]
) -> None:
    # The scenario of the issue: a resident's check-in photo, an editor's new person.
    resident = await sign_in_wechat(client, "parent")
    checkin = await photo(client, resident, "olive", purpose="checkin")
    resp = await client.post(
        "/api/v1/admin/people",
        json={"name": "小明", "portrait_media_id": checkin},
        headers=staff["editor"].headers,
    )
    assert resp.status == 422
    body = await resp.json()
    assert_error(body, "media_not_found")
    assert "portrait_media_id" in body["error"]["details"]["fields"]
    listed = await (await client.get("/api/v1/people")).json()
    assert listed["items"] == []
    assert await refs(client, checkin) == []
    # Nor the editor's own check-in photo, nor their avatar: not photos for the public
    # pages of stories and people.
    for purpose, color in (("checkin", "navy"), ("avatar", "maroon")):
        own = await photo(client, staff["editor"], color, purpose=purpose)
        refused = await client.post(
            "/api/v1/admin/people",
            json={"name": "小红", "portrait_media_id": own},
            headers=staff["editor"].headers,
        )
        assert refused.status == 422, purpose
        assert_error(await refused.json(), "media_not_found")
    assert (await (await client.get("/api/v1/people")).json())["items"] == []


async def test_a_persons_portrait_is_checked_before_an_edit(
    client: Client, staff: dict[str, Session]
) -> None:
    editor = staff["editor"]
    portrait = await photo(client, editor, "gold")
    person = await (
        await client.post(
            "/api/v1/admin/people",
            json={"name": "吴运铎", "portrait_media_id": portrait},
            headers=editor.headers,
        )
    ).json()
    assert person["portrait"]["id"] == portrait
    assert await refs(client, portrait) == [f"person:{person['id']}"]
    resident = await sign_in_wechat(client, "child")
    checkin = await photo(client, resident, "olive", purpose="checkin")
    refused = await client.patch(
        f"/api/v1/admin/people/{person['id']}",
        json={"portrait_media_id": checkin, "bio": "不该保存"},
        headers=editor.headers,
    )
    assert refused.status == 422
    assert_error(await refused.json(), "media_not_found")
    after = await (await client.get(f"/api/v1/people/{person['id']}")).json()
    assert after["portrait"]["id"] == portrait
    assert after["bio"] == ""
    assert await refs(client, checkin) == []
    # A good new portrait replaces the old one, which is released for the sweeper.
    other = await photo(client, editor, "teal")
    changed = await client.patch(
        f"/api/v1/admin/people/{person['id']}",
        json={"portrait_media_id": other},
        headers=editor.headers,
    )
    assert changed.status == 200, await changed.text()
    assert await refs(client, other) == [f"person:{person['id']}"]
    assert await refs(client, portrait) == []


async def story_count(client: Client, reviewer: Session) -> int:
    page: dict[str, Any] = await (
        await client.get("/api/v1/admin/stories", headers=reviewer.headers)
    ).json()
    return len(page["items"])


async def test_a_story_never_shows_someones_private_photo(
    client: Client, staff: dict[str, Session]
) -> None:
    editor, reviewer = staff["editor"], staff["reviewer"]
    resident = await sign_in_wechat(client, "student")
    private = await photo(client, resident, "olive", purpose="checkin")
    own_private = await photo(client, editor, "navy", purpose="checkin")
    cover = await photo(client, editor, "gold")
    for body in (
        {"cover_media_id": private},
        {"gallery_media_ids": [cover, private]},
        {"cover_media_id": own_private},
        {"cover_media_id": "f" * 32},
    ):
        resp = await client.post(
            "/api/v1/admin/stories",
            json={"title": "不该保存", "category": "policy", **body},
            headers=editor.headers,
        )
        assert resp.status == 422, body
        assert_error(await resp.json(), "media_not_found")
    assert await story_count(client, reviewer) == 0
    assert await refs(client, cover) == []  # the good photo beside a bad one: not marked
    assert await refs(client, private) == []

    story = await create_story(client, editor, cover_media_id=cover)
    assert story["cover"]["id"] == cover
    assert await refs(client, cover) == [f"story:{story['id']}"]
    published = await publish(client, staff, story["id"])
    refused = await client.patch(
        f"/api/v1/admin/stories/{story['id']}",
        json={"revision": published["revision"], "gallery_media_ids": [private], "title": "改"},
        headers=editor.headers,
    )
    assert refused.status == 422
    assert_error(await refused.json(), "media_not_found")
    public = await (await client.get(f"/api/v1/stories/{story['id']}")).json()
    assert public["gallery"] == []
    assert public["title"] == "一线故事"
    admin = await (
        await client.get(f"/api/v1/admin/stories/{story['id']}", headers=reviewer.headers)
    ).json()
    assert admin["revision"] == published["revision"]
    assert await refs(client, private) == []
    assert await refs(client, cover) == [f"story:{story['id']}"]


async def test_a_refused_or_conflicting_patch_marks_no_photo(
    client: Client, staff: dict[str, Session]
) -> None:
    editor = staff["editor"]
    story = await create_story(client, editor)
    gallery = await photo(client, editor, "teal")
    stale = await client.patch(
        f"/api/v1/admin/stories/{story['id']}",
        json={"revision": story["revision"] + 5, "gallery_media_ids": [gallery]},
        headers=editor.headers,
    )
    assert stale.status == 409
    assert await refs(client, gallery) == []
    # Another editor's photo is not this editor's to use.
    theirs = await photo(client, staff["editor2"], "maroon")
    refused = await client.patch(
        f"/api/v1/admin/stories/{story['id']}",
        json={"revision": story["revision"], "cover_media_id": theirs},
        headers=editor.headers,
    )
    assert refused.status == 422
    assert await refs(client, theirs) == []
    ok = await client.patch(
        f"/api/v1/admin/stories/{story['id']}",
        json={"revision": story["revision"], "gallery_media_ids": [gallery]},
        headers=editor.headers,
    )
    assert ok.status == 200, await ok.text()
    assert await refs(client, gallery) == [f"story:{story['id']}"]
    removed = await client.patch(
        f"/api/v1/admin/stories/{story['id']}",
        json={"revision": (await ok.json())["revision"], "gallery_media_ids": []},
        headers=editor.headers,
    )
    assert removed.status == 200
    assert await refs(client, gallery) == []


async def test_a_checkin_photo_is_no_avatar_either(client: Client) -> None:
    # The avatar shows beside comments to everyone: the same rule, through the same
    # MediaService.use.
    student = await sign_in_wechat(client, "pupil")
    checkin = await photo(client, student, "olive", purpose="checkin")
    refused = await client.patch(
        "/api/v1/me", json={"avatar_media_id": checkin}, headers=student.headers
    )
    assert refused.status == 422
    body = await refused.json()
    assert_error(body, "media_not_found")
    assert "avatar_media_id" in body["error"]["details"]["fields"]
    assert await refs(client, checkin) == []
    avatar = await photo(client, student, "gold", purpose="avatar")
    ok = await client.patch("/api/v1/me", json={"avatar_media_id": avatar}, headers=student.headers)
    assert ok.status == 200, await ok.text()
    assert await refs(client, avatar) == [f"user:{student.user_id}:avatar"]
