"""The student is told of each decision by a subscribe message through the outbox
(issue 10, item 5): once per check-in, whatever the number of teachers deciding at once;
a bulk review tells each student decided; a decision whose request died before its
message is told by the worker's sweep; WeChat failing is retried, 43101 is not."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from handlers.labour import tell_reviews
from handlers.labour.keys import TASK_SERVICE
from handlers.messages import sweep_messages
from handlers.messages.keys import MESSAGE_SERVICE
from server.clock import SettableClock
from tests.fixtures.app import Client
from tests.fixtures.wechat import FakeWeChat
from tests.labour.conftest import API, World, post_ok
from tests.labour.test_review import checked_in


async def test_the_student_is_told_once_of_a_decision_however_many_teachers_decide(
    client: Client, world: World, fake_wechat: FakeWeChat
) -> None:
    task, mine, _ = await checked_in(client, world)
    await asyncio.gather(
        *(
            client.post(
                f"{API}/checkins/{mine}/review",
                json={"decision": "approved", "comment": "扫得很干净，继续保持！"},
                headers=who.headers,
            )
            for who in [world.a.teacher, world.admin] * 5
        )
    )
    assert await sweep_messages(client.app) == {"sent": 1}
    [message] = fake_wechat.state.messages
    assert message["touser"] == "dev-s1"
    assert message["page"] == f"pages/labour/checkin?id={mine}"
    assert message["data"]["thing1"]["value"] == task["title"][:20]
    assert message["data"]["phrase2"]["value"] == "通过"
    assert message["data"]["thing3"]["value"] == "扫得很干净，继续保持！"
    assert message["data"]["time4"]["value"] == "2026年12月02日 12:00"
    assert await sweep_messages(client.app) == {}


async def test_a_bulk_review_tells_each_student_decided_and_a_rejection_says_so(
    client: Client, world: World, fake_wechat: FakeWeChat
) -> None:
    _, mine, theirs = await checked_in(client, world)
    await post_ok(
        client, "/checkins/review", world.admin,
        {"ids": [mine, theirs], "decision": "rejected", "comment": "照片看不清"},
    )  # fmt: skip
    assert await sweep_messages(client.app) == {"sent": 2}
    told = {m["touser"]: m["data"]["phrase2"]["value"] for m in fake_wechat.state.messages}
    assert told == {"dev-s1": "未通过", "dev-s2": "未通过"}


async def test_a_decision_whose_message_was_not_queued_is_told_by_the_sweep(
    client: Client, world: World, fake_wechat: FakeWeChat, clock: SettableClock
) -> None:
    _, mine, _ = await checked_in(client, world)
    repo = client.app[TASK_SERVICE].repo
    # The request that decided died before it queued the message:
    await repo.review(mine, "approved", {"decision": "approved", "comment": "", "by": "t",
                                         "at": clock.now()}, 0.5)  # fmt: skip
    assert await tell_reviews(client.app) == 0  # a request on its way does it itself
    clock.advance(timedelta(minutes=1))
    assert await tell_reviews(client.app) == 1
    assert await tell_reviews(client.app) == 0
    assert await sweep_messages(client.app) == {"sent": 1}
    assert [m["touser"] for m in fake_wechat.state.messages] == ["dev-s1"]


async def test_wechat_failing_then_answering_then_43101(
    client: Client, world: World, fake_wechat: FakeWeChat, clock: SettableClock
) -> None:
    _, mine, theirs = await checked_in(client, world)
    fake_wechat.state.failure = "http_500"
    await post_ok(client, f"/checkins/{mine}/review", world.a.teacher, {"decision": "approved"})
    assert await sweep_messages(client.app) == {"retry": 1}
    fake_wechat.state.failure = "none"
    clock.advance(timedelta(seconds=30))
    assert await sweep_messages(client.app) == {"sent": 1}
    fake_wechat.state.unsubscribed.add("dev-s2")
    await post_ok(client, f"/checkins/{theirs}/review", world.teacher2, {"decision": "approved"})
    assert await sweep_messages(client.app) == {"unsubscribed": 1}
    clock.advance(timedelta(hours=1))
    assert await sweep_messages(client.app) == {}
    assert [m["touser"] for m in fake_wechat.state.messages] == ["dev-s1"]
    doc = await client.app[MESSAGE_SERVICE].get(f"checkin_reviewed:{theirs}")
    assert doc is not None and doc["state"] == "unsubscribed"


async def test_withdrawing_consent_erases_the_messages_about_check_ins(
    client: Client, world: World, fake_wechat: FakeWeChat
) -> None:
    _, mine, _ = await checked_in(client, world)
    fake_wechat.state.failure = "http_500"  # not sent yet when consent is withdrawn
    decision = {"decision": "approved", "comment": "很好"}
    await post_ok(client, f"/checkins/{mine}/review", world.a.teacher, decision)
    await sweep_messages(client.app)
    resp = await client.post(f"{API}/me/guardian-consent/withdraw", headers=world.s1.headers)
    assert resp.status == 200, await resp.text()
    fake_wechat.state.failure = "none"
    doc = await client.app[MESSAGE_SERVICE].get(f"checkin_reviewed:{mine}")
    assert doc is not None and (doc["state"], doc["data"]) == ("erased", {})
    assert await sweep_messages(client.app) == {}
    assert fake_wechat.state.messages == []
