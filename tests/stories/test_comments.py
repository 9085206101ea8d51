"""Comments through WeChat content security (our fake WeChat): pass, review, risky."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from handlers.stories.keys import COMMENT_SERVICE
from server.errors import AppError
from server.principal import Role
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_staff, sign_in_wechat
from tests.fixtures.wechat import FakeWeChat
from tests.stories.conftest import as_principal, create_story, publish

MISSING_ID = "0123456789abcdef01234567"


@pytest.fixture
async def story(client: Client) -> dict[str, Any]:
    staff = {
        "editor": await sign_in_staff(client, "editor1", Role.editor),
        "reviewer": await sign_in_staff(client, "reviewer1", Role.reviewer),
    }
    created = await create_story(client, staff["editor"])
    await publish(client, staff, created["id"])
    return {**created, "reviewer": staff["reviewer"]}


async def comment(client: Client, who: Session, story_id: str, text: str) -> Any:
    return await client.post(
        f"/api/v1/stories/{story_id}/comments", json={"text": text}, headers=who.headers
    )


async def public_comments(client: Client, story_id: str) -> list[str]:
    resp = await client.get(f"/api/v1/stories/{story_id}/comments")
    return [c["text"] for c in (await resp.json())["items"]]


async def test_pass_review_and_risky(
    client: Client, story: dict[str, Any], fake_wechat: FakeWeChat
) -> None:
    reader = await sign_in_wechat(client, "reader")
    sid = story["id"]
    ok = await comment(client, reader, sid, "向劳模学习！")
    assert ok.status == 201
    assert (await ok.json())["status"] == "approved"
    held = await comment(client, reader, sid, "这条待审核的评论")
    assert (await held.json())["status"] == "pending"
    bad = await comment(client, reader, sid, "一段违规内容")
    assert bad.status == 422
    assert_error(await bad.json(), "content_rejected")
    assert "msg_sec_check" in fake_wechat.state.calls
    assert await public_comments(client, sid) == ["向劳模学习！"]
    stats = (await (await client.get(f"/api/v1/stories/{sid}")).json())["stats"]
    assert stats["comments"] == 1


async def test_reviewers_moderate_the_queue(client: Client, story: dict[str, Any]) -> None:
    reader = await sign_in_wechat(client, "reader2")
    sid = story["id"]
    held = await (await comment(client, reader, sid, "请审核：待审核")).json()
    queue = await client.get("/api/v1/admin/comments", headers=story["reviewer"].headers)
    assert [c["id"] for c in (await queue.json())["items"]] == [held["id"]]
    refused = await client.get("/api/v1/admin/comments", headers=reader.headers)
    assert refused.status == 403
    approved = await client.post(
        f"/api/v1/admin/comments/{held['id']}/approve", headers=story["reviewer"].headers
    )
    assert (await approved.json())["status"] == "approved"
    # A second decision does not undo the first, nor count it twice.
    again = await client.post(
        f"/api/v1/admin/comments/{held['id']}/reject", headers=story["reviewer"].headers
    )
    assert (await again.json())["status"] == "approved"
    assert await public_comments(client, sid) == ["请审核：待审核"]
    stats = (await (await client.get(f"/api/v1/stories/{sid}")).json())["stats"]
    assert stats["comments"] == 1


async def test_comment_rate_limit_and_wechat_down(
    client: Client, story: dict[str, Any], fake_wechat: FakeWeChat
) -> None:
    reader = await sign_in_wechat(client, "chatty")
    sid = story["id"]
    statuses = [(await comment(client, reader, sid, f"第{i}条")).status for i in range(6)]
    assert statuses == [201] * 5 + [429]


@pytest.mark.parametrize(
    ("errcode", "failure"),
    [(40003, "none"), (61010, "none"), (43104, "none"), (None, "http_500"), ("oops", "none")],
)
async def test_a_comment_wechat_could_not_check_waits_for_a_reviewer(
    client: Client,
    story: dict[str, Any],
    fake_wechat: FakeWeChat,
    errcode: object,
    failure: Literal["none", "http_500"],
) -> None:
    """WeChat refusing the call (bad openid 40003, the user not seen lately 61010, an
    openid of another app 43104, a non-numeric errcode) or unreachable: the comment is
    kept, pending, in the reviewer's queue; it is not public until approved."""
    other = await sign_in_wechat(client, "quiet")
    if errcode is not None:
        fake_wechat.state.fail_next("msg_sec_check", errcode)
    fake_wechat.state.failure = failure
    down = await comment(client, other, story["id"], "好文章")
    assert down.status == 201
    assert (await down.json())["status"] == "pending"
    assert "好文章" not in await public_comments(client, story["id"])
    queue = await client.get("/api/v1/admin/comments", headers=story["reviewer"].headers)
    assert [c["text"] for c in (await queue.json())["items"]] == ["好文章"]


async def test_comments_on_drafts_are_404_and_erase_removes_mine(
    client: Client, story: dict[str, Any]
) -> None:
    reader = await sign_in_wechat(client, "leaver")
    missing = await comment(client, reader, "0123456789abcdef01234567", "hi")
    assert missing.status == 404
    await comment(client, reader, story["id"], "再见")
    export = await (await client.get("/api/v1/me/export", headers=reader.headers)).json()
    assert [c["text"] for c in export["sections"]["comments"]] == ["再见"]
    await client.delete("/api/v1/me", headers=reader.headers)
    assert await public_comments(client, story["id"]) == []
    stats = (await (await client.get(f"/api/v1/stories/{story['id']}")).json())["stats"]
    assert stats["comments"] == 0


async def test_nobody_moderates_their_own_comment(client: Client, story: dict[str, Any]) -> None:
    """A staff account's comment waits for a reviewer (WeChat cannot check it): not for
    its author, even a reviewer (four eyes), whose approve and reject are 403."""
    author = story["reviewer"]
    own = await (await comment(client, author, story["id"], "审核员自己的评论")).json()
    assert own["status"] == "pending"
    for decision in ("approve", "reject"):
        refused = await client.post(
            f"/api/v1/admin/comments/{own['id']}/{decision}", headers=author.headers
        )
        assert refused.status == 403
        assert_error(await refused.json(), "four_eyes_required")
    assert await public_comments(client, story["id"]) == []
    other = await sign_in_staff(client, "reviewer2", Role.reviewer)
    approved = await client.post(
        f"/api/v1/admin/comments/{own['id']}/approve", headers=other.headers
    )
    assert (await approved.json())["status"] == "approved"
    assert await public_comments(client, story["id"]) == ["审核员自己的评论"]


async def test_moderating_many_decides_each_once_and_never_ones_own(
    client: Client, story: dict[str, Any]
) -> None:
    reader = await sign_in_wechat(client, "many")
    reviewer = story["reviewer"]
    held = [(await (await comment(client, reader, story["id"], f"待审核{i}")).json())["id"]
            for i in range(2)]  # fmt: skip
    own = (await (await comment(client, reviewer, story["id"], "我的")).json())["id"]
    service = client.app[COMMENT_SERVICE]
    principal = as_principal(reviewer, Role.reviewer)
    first = await service.moderate_many(principal, [*held, own, MISSING_ID, held[0]], True)
    assert first == {
        held[0]: "moderated",
        held[1]: "moderated",
        own: "four_eyes_required",
        MISSING_ID: "not_found",
    }
    again = await service.moderate_many(principal, held, False)  # a double submit
    assert again == dict.fromkeys(held, "already_decided")
    assert sorted(await public_comments(client, story["id"])) == ["待审核0", "待审核1"]
    stats = (await (await client.get(f"/api/v1/stories/{story['id']}")).json())["stats"]
    assert stats["comments"] == 2
    with pytest.raises(AppError) as too_many:
        await service.moderate_many(principal, [f"{i:024x}" for i in range(51)], True)
    assert too_many.value.status == 422
