"""The outbox of subscribe messages (handlers/messages), against real MongoDB, Redis,
the job worker and our fake WeChat: sent once, retried with backoff when WeChat fails,
never retried after 43101, never sent twice by concurrent senders, and not lost when
Redis was away or a sender died mid-send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from config.settings import Settings
from handlers.messages.keys import MESSAGE_SERVICE
from handlers.messages.service import LEASE, Message, MessageService
from handlers.messages.values import thing, time_value
from server.app import create_app
from server.clock import SettableClock
from server.jobqueue import queue_name
from server.keys import JOBS
from server.principal import Role
from server.worker import close_worker, create_worker
from tests.fixtures.app import AiohttpClient, Client
from tests.fixtures.redis_process import RedisProcess
from tests.fixtures.sessions import sign_in_staff, sign_in_wechat
from tests.fixtures.waiting import eventually
from tests.fixtures.wechat import FakeWeChat


def reviewed(user_id: str, key: str = "checkin_reviewed:c1", title: str = "整理书包") -> Message:
    return Message(
        key=key,
        user_id=user_id,
        kind="checkin_reviewed",
        page="pages/labour/checkin?id=c1",
        data={
            "thing1": thing(title),
            "phrase2": "通过",
            "thing3": "做得好",
            "time4": "2026年05月01日 09:30",
        },
    )


def outbox(client: Client) -> MessageService:
    return client.app[MESSAGE_SERVICE]


async def test_a_message_is_sent_once_however_often_it_is_asked_for(
    client: Client, fake_wechat: FakeWeChat
) -> None:
    student = await sign_in_wechat(client, "xiaoming")
    assert await outbox(client).enqueue(reviewed(student.user_id)) is True
    assert await outbox(client).enqueue(reviewed(student.user_id)) is False  # a retry
    assert await outbox(client).send("checkin_reviewed:c1") == "sent"
    assert await outbox(client).send("checkin_reviewed:c1") == "not_due"
    assert await outbox(client).sweep() == {}
    [sent] = fake_wechat.state.messages
    assert sent["touser"] == "dev-xiaoming"
    assert sent["template_id"] == "dev-checkin_reviewed"
    assert sent["page"] == "pages/labour/checkin?id=c1"
    assert sent["data"]["phrase2"] == {"value": "通过"}
    doc = await outbox(client).get("checkin_reviewed:c1")
    assert doc is not None and doc["state"] == "sent" and doc["attempts"] == 1


async def test_a_failed_send_is_retried_with_backoff_then_sent(
    client: Client, fake_wechat: FakeWeChat, clock: SettableClock
) -> None:
    student = await sign_in_wechat(client, "xiaohong")
    await outbox(client).enqueue(reviewed(student.user_id))
    fake_wechat.state.failure = "http_500"
    assert await outbox(client).send("checkin_reviewed:c1") == "retry"
    fake_wechat.state.failure = "none"
    fake_wechat.state.fail_next("subscribe_send", -1)  # "system busy"
    assert await outbox(client).send("checkin_reviewed:c1") == "not_due"  # waits its turn
    clock.advance(timedelta(seconds=30))
    assert await outbox(client).sweep() == {"retry": 1}
    doc = await outbox(client).get("checkin_reviewed:c1")
    assert doc is not None and doc["next_at"] == clock.now() + timedelta(seconds=60)  # doubled
    clock.advance(timedelta(seconds=60))
    assert await outbox(client).sweep() == {"sent": 1}
    assert len(fake_wechat.state.messages) == 1
    clock.advance(timedelta(hours=2))
    assert await outbox(client).sweep() == {}
    assert len(fake_wechat.state.messages) == 1


async def test_a_person_who_has_not_subscribed_is_recorded_and_not_asked_again(
    client: Client, fake_wechat: FakeWeChat, clock: SettableClock
) -> None:
    student = await sign_in_wechat(client, "xiaogang")
    fake_wechat.state.unsubscribed.add("dev-xiaogang")
    await outbox(client).enqueue(reviewed(student.user_id))
    assert await outbox(client).send("checkin_reviewed:c1") == "unsubscribed"
    calls = fake_wechat.state.calls.count("subscribe_send")
    clock.advance(timedelta(days=1))
    assert await outbox(client).sweep() == {}
    assert await outbox(client).send("checkin_reviewed:c1") == "not_due"
    assert fake_wechat.state.calls.count("subscribe_send") == calls
    doc = await outbox(client).get("checkin_reviewed:c1")
    assert doc is not None and doc["state"] == "unsubscribed" and doc["errcode"] == 43101


async def test_a_refused_message_fails_for_the_operator_and_is_not_retried(
    client: Client, fake_wechat: FakeWeChat, clock: SettableClock
) -> None:
    student = await sign_in_wechat(client, "xiaoli")
    fake_wechat.state.fail_next("subscribe_send", 40037)  # invalid template_id
    await outbox(client).enqueue(reviewed(student.user_id))
    assert await outbox(client).send("checkin_reviewed:c1") == "failed"
    clock.advance(timedelta(days=1))
    assert await outbox(client).sweep() == {}
    assert fake_wechat.state.messages == []


async def test_two_hundred_concurrent_senders_send_it_once(
    client: Client, fake_wechat: FakeWeChat
) -> None:
    student = await sign_in_wechat(client, "xiaofang")
    await outbox(client).enqueue(reviewed(student.user_id))
    outcomes = await asyncio.gather(
        *(outbox(client).send("checkin_reviewed:c1") for _ in range(200))
    )
    assert sorted(set(outcomes)) == ["not_due", "sent"]
    assert outcomes.count("sent") == 1
    assert len(fake_wechat.state.messages) == 1


async def test_a_sender_that_died_mid_send_is_taken_over_after_its_lease(
    client: Client, fake_wechat: FakeWeChat, clock: SettableClock
) -> None:
    student = await sign_in_wechat(client, "xiaoqiang")
    await outbox(client).enqueue(reviewed(student.user_id))
    now = clock.now()
    assert await outbox(client).repo.claim("checkin_reviewed:c1", now, now + LEASE)  # then died
    assert await outbox(client).sweep() == {}  # its lease still runs
    clock.advance(LEASE)
    assert await outbox(client).sweep() == {"sent": 1}
    assert len(fake_wechat.state.messages) == 1


async def test_a_reminder_waits_for_its_time_and_is_dropped_once_it_expired(
    client: Client, fake_wechat: FakeWeChat, clock: SettableClock
) -> None:
    resident = await sign_in_wechat(client, "laowang")
    start = clock.now() + timedelta(days=2)
    reminder = Message(
        key="event_reminder:s1",
        user_id=resident.user_id,
        kind="event_reminder",
        page="pages/events/detail?id=e1",
        data={"thing1": thing("劳模进社区：木工课"), "time2": time_value(start)},
        send_at=start - timedelta(days=1),
        expires_at=start,
    )
    await outbox(client).enqueue(reminder)
    assert await outbox(client).sweep() == {}
    fake_wechat.state.failure = "http_500"  # WeChat down for the whole day before
    clock.set(start - timedelta(days=1))
    assert await outbox(client).sweep() == {"retry": 1}
    clock.set(start - timedelta(minutes=1))
    assert await outbox(client).sweep() == {"expired": 1}
    fake_wechat.state.failure = "none"
    clock.advance(timedelta(hours=1))
    assert await outbox(client).sweep() == {}
    assert fake_wechat.state.messages == []


async def test_a_staff_account_without_openid_has_nobody_to_send_to(client: Client) -> None:
    teacher = await sign_in_staff(client, "teacher_wang", Role.teacher)
    await outbox(client).enqueue(reviewed(teacher.user_id))
    assert await outbox(client).send("checkin_reviewed:c1") == "no_recipient"


async def test_values_too_long_for_wechat_are_shortened_not_refused(
    client: Client, fake_wechat: FakeWeChat
) -> None:
    student = await sign_in_wechat(client, "xiaoyu")
    long_title = "在家长的陪伴下独立完成一周的家庭晚餐准备并记录每一道菜的做法"
    await outbox(client).enqueue(reviewed(student.user_id, title=long_title))
    assert await outbox(client).send("checkin_reviewed:c1") == "sent"
    value = fake_wechat.state.messages[0]["data"]["thing1"]["value"]
    assert len(value) == 20 and value.endswith("…") and long_title.startswith(value[:-1])


async def test_enqueueing_queues_the_send_on_the_job_queue_for_its_time(
    client: Client, clock: SettableClock
) -> None:
    resident = await sign_in_wechat(client, "laoli")
    when = clock.now() + timedelta(hours=5)
    await outbox(client).enqueue(
        Message("event_reminder:s9", resident.user_id, "event_reminder", "p", {"thing1": "x"}, when)
    )
    jobs = client.app[JOBS]
    score = await jobs.arq.zscore(
        queue_name(jobs.prefix), jobs.job_id("message:event_reminder:s9:0")
    )
    assert score == int(when.timestamp() * 1000)


async def test_with_redis_away_at_enqueue_the_sweep_sends_it(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: SettableClock,
    fake_wechat: FakeWeChat,
    own_redis: RedisProcess,
) -> None:
    ours = settings.model_copy(update={"redis_url": own_redis.url})
    client = await aiohttp_client(create_app(ours, clock=clock))
    student = await sign_in_wechat(client, "xiaojun")
    own_redis.stop()
    assert await outbox(client).enqueue(reviewed(student.user_id)) is True  # no job queued
    assert await outbox(client).sweep() == {"sent": 1}
    assert len(fake_wechat.state.messages) == 1


@contextlib.asynccontextmanager
async def running_worker(app: web.Application) -> AsyncIterator[None]:
    worker = create_worker(app, poll_delay_s=0.05, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    try:
        yield
    finally:
        await close_worker(worker)
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_worker_sends_what_was_enqueued(client: Client, fake_wechat: FakeWeChat) -> None:
    student = await sign_in_wechat(client, "xiaowei")
    async with running_worker(client.app):
        await outbox(client).enqueue(reviewed(student.user_id))

        async def sent() -> bool:
            doc = await outbox(client).get("checkin_reviewed:c1")
            return doc is not None and doc["state"] == "sent"

        await eventually(sent, what="the worker to send the message")
    assert len(fake_wechat.state.messages) == 1
