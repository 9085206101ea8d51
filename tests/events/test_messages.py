"""What residents are told through the outbox (issue 11, item 4): a seat from the
waitlist, the event cancelled, and a reminder the day before; each once, scheduled on
the job queue, none after the start, and none lost when a request dies before it."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.events import remind_event, remind_upcoming, tell_signups
from handlers.events.keys import SIGNUP_SERVICE
from handlers.messages import sweep_messages
from server.clock import SettableClock
from server.jobqueue import queue_name
from server.keys import JOBS
from tests.events.conftest import create_event
from tests.events.test_signups import residents, sign_up
from tests.fixtures.app import Client
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.fixtures.wechat import FakeWeChat


def told(fake_wechat: FakeWeChat) -> list[tuple[str, str]]:
    """(openid, the template's note) of each message WeChat took, in order."""
    return [(m["touser"], m["data"]["thing4"]["value"]) for m in fake_wechat.state.messages]


async def test_the_one_promoted_from_the_waitlist_is_told_once(
    client: Client, organizer: Session, clock: SettableClock, fake_wechat: FakeWeChat
) -> None:
    event = await create_event(client, organizer, clock, capacity=1, title="劳模进社区：木工课")
    first, second, third = await residents(client, 3)
    for n, user in enumerate((first, second, third)):
        await sign_up(client, user, event["id"], n)
    resp = await client.delete(f"/api/v1/events/{event['id']}/signups/me", headers=first.headers)
    assert resp.status == 200
    assert await sweep_messages(client.app) == {"sent": 1}
    assert told(fake_wechat) == [("dev-resident1", "您已从候补转为报名成功")]
    [message] = fake_wechat.state.messages
    assert message["template_id"] == "dev-event_promoted"
    assert message["page"] == f"pages/events/detail?id={event['id']}"
    assert message["data"]["thing1"]["value"] == "劳模进社区：木工课"
    starts = datetime.fromisoformat(event["starts_at"]).astimezone()
    assert message["data"]["time2"]["value"].startswith(f"{starts.year}年")
    assert await tell_signups(client.app) == 0
    assert await sweep_messages(client.app) == {}


async def test_cancelling_the_event_tells_everyone_signed_up_once(
    client: Client, organizer: Session, clock: SettableClock, fake_wechat: FakeWeChat
) -> None:
    event = await create_event(client, organizer, clock, capacity=2)
    users = await residents(client, 3)  # two confirmed, one waitlisted
    for n, user in enumerate(users):
        await sign_up(client, user, event["id"], n)
    quitter = users[0]
    await client.delete(f"/api/v1/events/{event['id']}/signups/me", headers=quitter.headers)
    for _ in range(2):  # the organizer's retry
        resp = await client.post(
            f"/api/v1/admin/events/{event['id']}/cancel", headers=organizer.headers
        )
        assert resp.status == 200
    await sweep_messages(client.app)
    cancelled = sorted(who for who, note in told(fake_wechat) if note == "活动已取消，敬请谅解")
    assert cancelled == ["dev-resident1", "dev-resident2"]  # not the one who left before
    assert len(fake_wechat.state.messages) == 3  # and resident2's promotion before it


async def test_a_cancellation_whose_request_died_is_told_by_the_sweep(
    client: Client, organizer: Session, clock: SettableClock, fake_wechat: FakeWeChat
) -> None:
    event = await create_event(client, organizer, clock)
    [user] = await residents(client, 1)
    _, signup = await sign_up(client, user, event["id"])
    # The event's cancellation reached this sign-up, then its request died:
    await client.app[SIGNUP_SERVICE].repo.cancel(signup["id"], clock.now(), "event_cancelled")
    assert await tell_signups(client.app) == 0  # a request on its way tells them itself
    clock.advance(timedelta(minutes=1))
    assert await tell_signups(client.app) == 1
    assert await tell_signups(client.app) == 0
    assert await sweep_messages(client.app) == {"sent": 1}
    assert told(fake_wechat) == [("dev-resident0", "活动已取消，敬请谅解")]


async def test_reminders_are_queued_for_the_day_before_and_sent_once_to_those_confirmed(
    client: Client, organizer: Session, clock: SettableClock, fake_wechat: FakeWeChat
) -> None:
    event = await create_event(client, organizer, clock, capacity=1)
    starts = datetime.fromisoformat(event["starts_at"])
    jobs = client.app[JOBS]
    job_id = jobs.job_id(f"remind:{event['id']}:{int(starts.timestamp())}")
    when_ms = await jobs.arq.zscore(queue_name(jobs.prefix), job_id)
    assert when_ms == int((starts - timedelta(days=1)).timestamp() * 1000)
    confirmed, waitlisted = await residents(client, 2)
    await sign_up(client, confirmed, event["id"], 0)
    await sign_up(client, waitlisted, event["id"], 1)
    clock.set(starts - timedelta(days=1))
    assert await remind_event(client.app, event["id"], starts.isoformat()) == 1
    assert await remind_event(client.app, event["id"], starts.isoformat()) == 0  # job retried
    assert await remind_upcoming(client.app) == 0  # the hourly sweep: nothing new
    assert await sweep_messages(client.app) == {"sent": 1}
    assert told(fake_wechat) == [("dev-resident0", "活动明天开始，请凭电子票入场")]


async def test_a_moved_event_is_reminded_for_its_new_start_and_the_old_job_does_nothing(
    client: Client, organizer: Session, clock: SettableClock, fake_wechat: FakeWeChat
) -> None:
    event = await create_event(client, organizer, clock)
    [user] = await residents(client, 1)
    await sign_up(client, user, event["id"])
    old_start = datetime.fromisoformat(event["starts_at"])
    new_start = old_start + timedelta(days=3)
    resp = await client.patch(
        f"/api/v1/admin/events/{event['id']}",
        json={
            "starts_at": new_start.isoformat(),
            "ends_at": (new_start + timedelta(hours=2)).isoformat(),
        },
        headers=organizer.headers,
    )
    assert resp.status == 200, await resp.text()
    jobs = client.app[JOBS]
    job_id = jobs.job_id(f"remind:{event['id']}:{int(new_start.timestamp())}")
    assert await jobs.arq.zscore(queue_name(jobs.prefix), job_id) is not None
    clock.set(old_start - timedelta(days=1))
    assert await remind_event(client.app, event["id"], old_start.isoformat()) == 0
    clock.set(new_start - timedelta(days=1))
    assert await remind_event(client.app, event["id"], new_start.isoformat()) == 1
    assert await sweep_messages(client.app) == {"sent": 1}


async def test_a_late_sign_up_is_reminded_by_the_hourly_sweep_and_nobody_after_the_start(
    client: Client, organizer: Session, clock: SettableClock, fake_wechat: FakeWeChat
) -> None:
    event = await create_event(client, organizer, clock)
    starts = datetime.fromisoformat(event["starts_at"])
    [early] = await residents(client, 1)
    await sign_up(client, early, event["id"], 0)
    clock.set(starts - timedelta(days=1))
    await remind_event(client.app, event["id"], starts.isoformat())
    clock.advance(timedelta(hours=3))
    late = await sign_in_wechat(client, "latecomer")
    status, body = await sign_up(client, late, event["id"], 1)
    assert status == 201, body
    assert await remind_upcoming(client.app) == 1
    fake_wechat.state.failure = "http_500"  # WeChat down until the event began
    await sweep_messages(client.app)
    clock.set(starts)
    fake_wechat.state.failure = "none"
    assert await sweep_messages(client.app) == {"expired": 2}
    assert await remind_upcoming(client.app) == 0
    assert fake_wechat.state.messages == []
