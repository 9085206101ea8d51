"""Issue 11's "Done when", walked through the HTTP API against the real services, in the
order it happens to the people involved: an organizer publishes an event, residents sign
up in a burst, two cancel and the first two in line are promoted (and told), everyone
confirmed is reminded once the day before, tickets are scanned at the venue (one batch
offline), and the organizer's Excel export agrees with all of it.

Each step asserts what a person would notice (their own sign-up, a WeChat message, the
door's answer, the file), not how the room does it; the rooms' own tests cover the rest.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from openpyxl import load_workbook

from handlers.events import remind_event, remind_upcoming, tell_signups
from handlers.events.export import HEADERS
from handlers.events.tickets import qr_png
from handlers.messages import sweep_messages
from server.clock import SHANGHAI, SettableClock
from server.jobqueue import queue_name
from server.keys import JOBS
from tests.events.conftest import create_event, phone_of
from tests.events.test_invariant import tokens
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session
from tests.fixtures.wechat import FakeWeChat

CAPACITY = 5
RESIDENTS = 20
PREFIX = "journey"


@dataclass
class Resident:
    """One of the residents, as the test follows them: ``n`` names their name (居民n),
    phone number (``phone_of(n)``) and WeChat account (``dev-journey<n>``)."""

    n: int
    token: str

    @property
    def openid(self) -> str:
        return f"dev-{PREFIX}{self.n}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def masked(n: int) -> str:
    phone = phone_of(n)
    return f"{phone[:3]}****{phone[-4:]}"


def assert_no_full_phone(text: str) -> None:
    """Only the Excel export shows a phone number in full."""
    assert not any(phone_of(n) in text for n in range(RESIDENTS)), text


async def my_signup(client: Client, resident: Resident) -> dict[str, Any]:
    """What the resident's app shows: their one sign-up (GET /me/signups)."""
    resp = await client.get("/api/v1/me/signups", headers=resident.headers)
    assert resp.status == 200, await resp.text()
    assert_no_full_phone(await resp.text())
    [item] = (await resp.json())["items"]
    assert item["phone"] == masked(resident.n)
    return dict(item)


def sent(fake_wechat: FakeWeChat, template: str) -> list[str]:
    """The openids WeChat took a message of ``template`` for, in order."""
    return [m["touser"] for m in fake_wechat.state.messages if m["template_id"] == template]


async def signed_in_again(client: Client, session: Session) -> Session:
    """Days later the access token has expired: the app refreshes it."""
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return Session(body["user"]["id"], body["access_token"], body["refresh_token"])


def sheet_rows(body: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def local(instant: str | datetime) -> datetime:
    """An instant as the export writes it: Asia/Shanghai wall time, no offset."""
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    return instant.astimezone(SHANGHAI).replace(tzinfo=None)


async def test_an_event_from_publishing_to_the_export(
    client: Client, organizer: Session, clock: SettableClock, fake_wechat: FakeWeChat
) -> None:
    # -- the organizer publishes an event: five seats and a waitlist --------------------
    event = await create_event(
        client, organizer, clock, capacity=CAPACITY, waitlist_enabled=True, title="劳模进社区"
    )
    event_id = event["id"]
    assert (event["status"], event["seats_left"]) == ("published", CAPACITY)
    public = await (await client.get(f"/api/v1/events/{event_id}")).json()
    assert (public["status"], public["seats_left"]) == ("published", CAPACITY)

    # -- twenty residents sign up at once, each tap with its Idempotency-Key ------------
    residents = [Resident(n, t) for n, t in enumerate(await tokens(client, RESIDENTS, PREFIX))]
    signups_path = f"/api/v1/events/{event_id}/signups"

    async def sign_up(resident: Resident) -> tuple[int, dict[str, Any]]:
        resp = await client.post(
            signups_path,
            json={"name": f"居民{resident.n}", "phone": phone_of(resident.n)},
            headers={**resident.headers, "Idempotency-Key": f"signup-{resident.n}"},
        )
        text = await resp.text()
        assert_no_full_phone(text)
        return resp.status, await resp.json()

    answers = await asyncio.gather(*(sign_up(r) for r in residents))
    assert [status for status, _ in answers] == [201] * RESIDENTS
    signup_of = {r.n: body for r, (_, body) in zip(residents, answers, strict=True)}
    assert Counter(s["status"] for s in signup_of.values()) == {
        "confirmed": CAPACITY, "waitlisted": RESIDENTS - CAPACITY,
    }  # fmt: skip
    confirmed = [r for r in residents if signup_of[r.n]["status"] == "confirmed"]
    # The line, first in it first: each waitlisted person was told their own place.
    line = sorted(
        (r for r in residents if signup_of[r.n]["status"] == "waitlisted"),
        key=lambda r: signup_of[r.n]["position"],
    )
    assert [signup_of[r.n]["position"] for r in line] == list(range(1, len(line) + 1))
    for r in confirmed:  # a ticket for each seat, none for a place in line
        assert signup_of[r.n]["ticket"].startswith("T1.")
        assert signup_of[r.n]["position"] is None
    assert all(signup_of[r.n]["ticket"] is None for r in line)
    assert all(s["phone"] == masked(n) for n, s in signup_of.items())
    # Each sees in their app what they were answered.
    for r in residents:
        mine = await my_signup(client, r)
        assert (mine["id"], mine["status"], mine["position"], mine["ticket"]) == (
            signup_of[r.n]["id"], signup_of[r.n]["status"], signup_of[r.n]["position"],
            signup_of[r.n]["ticket"],
        )  # fmt: skip
        assert mine["event"]["id"] == event_id
    # A tap that the network made twice: the first answer again, no second sign-up.
    assert await sign_up(line[-1]) == (201, signup_of[line[-1].n])
    public = await (await client.get(f"/api/v1/events/{event_id}")).json()
    assert public["seats_left"] == 0

    # -- two confirmed cancel at once: the first two in line get their seats ------------
    leavers, stayers = confirmed[:2], confirmed[2:]
    cancels = await asyncio.gather(
        *(client.delete(f"{signups_path}/me", headers=r.headers) for r in leavers)
    )
    assert [resp.status for resp in cancels] == [200, 200]
    assert [await resp.json() for resp in cancels] == [{"status": "cancelled"}] * 2
    promoted, still_waiting = line[:2], line[2:]
    for r in leavers:
        mine = await my_signup(client, r)
        assert (mine["status"], mine["ticket"]) == ("cancelled", None)
    for r in promoted:
        mine = await my_signup(client, r)
        assert (mine["status"], mine["position"]) == ("confirmed", None)
        assert mine["ticket"].startswith("T1.")  # a ticket of their own now
    for place, r in enumerate(still_waiting, start=1):  # everyone behind moved up two
        mine = await my_signup(client, r)
        assert (mine["status"], mine["position"]) == ("waitlisted", place)
    confirmed = stayers + promoted
    # The two promoted are told by WeChat, once each; nobody else is told anything.
    assert await sweep_messages(client.app) == {"sent": 2}
    assert sorted(sent(fake_wechat, "dev-event_promoted")) == sorted(r.openid for r in promoted)
    assert len(fake_wechat.state.messages) == 2
    for message in fake_wechat.state.messages:
        assert message["page"] == f"pages/events/detail?id={event_id}"
        assert message["data"]["thing4"]["value"] == "您已从候补转为报名成功"
    assert await tell_signups(client.app) == 0  # the minute sweep finds nothing untold
    assert await sweep_messages(client.app) == {}

    # -- the day before: a reminder to each of the five confirmed, once -----------------
    starts = datetime.fromisoformat(event["starts_at"])
    jobs = client.app[JOBS]
    job_id = jobs.job_id(f"remind:{event_id}:{int(starts.timestamp())}")
    # Publishing queued the reminders' job for a day before the start; it runs then.
    when_ms = await jobs.arq.zscore(queue_name(jobs.prefix), job_id)
    assert when_ms == int((starts - timedelta(days=1)).timestamp() * 1000)
    clock.set(starts - timedelta(days=1))
    assert await remind_event(client.app, event_id, starts.isoformat()) == CAPACITY
    assert await remind_event(client.app, event_id, starts.isoformat()) == 0  # job retried
    assert await remind_upcoming(client.app) == 0  # the hourly sweep: nothing new
    assert await sweep_messages(client.app) == {"sent": CAPACITY}
    reminded = sent(fake_wechat, "dev-event_reminder")
    assert sorted(reminded) == sorted(r.openid for r in confirmed)  # each once, only them
    assert await remind_upcoming(client.app) == 0
    assert await sweep_messages(client.app) == {}
    assert len(fake_wechat.state.messages) == 2 + CAPACITY

    # -- the day itself, at the door: tickets scanned, one batch offline ----------------
    clock.set(starts - timedelta(minutes=30))
    # A week on, everyone's access token has expired: they open their apps again.
    organizer = await signed_in_again(client, organizer)
    fresh = await tokens(client, RESIDENTS, PREFIX)
    residents = [Resident(r.n, fresh[r.n]) for r in residents]
    by_n = {r.n: r for r in residents}
    confirmed = [by_n[r.n] for r in confirmed]
    leavers = [by_n[r.n] for r in leavers]
    tickets = {r.n: (await my_signup(client, r))["ticket"] for r in confirmed}
    assert all(ticket.startswith("T1.") for ticket in tickets.values())
    # The QR code a promoted resident shows holds that same ticket.
    holder = by_n[promoted[0].n]
    png = await client.get(
        f"/api/v1/me/signups/{signup_of[holder.n]['id']}/ticket.png", headers=holder.headers
    )
    assert png.status == 200
    assert await png.read() == qr_png(tickets[holder.n])

    door = f"/api/v1/admin/events/{event_id}/checkin"
    first = await client.post(door, json={"ticket": tickets[holder.n]}, headers=organizer.headers)
    assert first.status == 200, await first.text()
    door_time = clock.now()
    at_door = await first.json()
    assert (at_door["status"], at_door["signup_id"]) == ("attended", signup_of[holder.n]["id"])
    assert (at_door["name"], at_door["phone"]) == (f"居民{holder.n}", masked(holder.n))
    again = await client.post(door, json={"ticket": tickets[holder.n]}, headers=organizer.headers)
    assert again.status == 409
    body = await again.json()
    assert_error(body, "already_attended")
    assert body["error"]["details"]["by"] == f"user:{organizer.user_id}"
    assert datetime.fromisoformat(body["error"]["details"]["attended_at"]) == door_time
    # A cancelled sign-up's ticket (it had one while it held a seat) lets nobody in.
    for r in leavers:
        cancelled_ticket = signup_of[r.n]["ticket"]
        resp = await client.post(door, json={"ticket": cancelled_ticket}, headers=organizer.headers)
        assert resp.status == 422
        assert_error(await resp.json(), "ticket_invalid")

    # The side door's device lost the network and scanned three on its own; one
    # confirmed resident never came.
    offline = [r for r in confirmed if r.n != holder.n]
    scanned, no_show = offline[:3], offline[3]
    scanned_at = {r.n: clock.now() - timedelta(minutes=10 - i) for i, r in enumerate(scanned)}
    scans = [{"ticket": tickets[r.n], "scanned_at": scanned_at[r.n].isoformat()} for r in scanned]
    scans.append(
        {"ticket": signup_of[leavers[0].n]["ticket"], "scanned_at": clock.now().isoformat()}
    )
    batch = f"/api/v1/admin/events/{event_id}/checkins"
    sent_once = await client.post(batch, json={"scans": scans}, headers=organizer.headers)
    assert sent_once.status == 200, await sent_once.text()
    answer = await sent_once.json()
    assert_no_full_phone(await sent_once.text())
    assert [(r["index"], r["result"]) for r in answer["results"]] == [
        (0, "attended"), (1, "attended"), (2, "attended"), (3, "ticket_invalid"),
    ]  # fmt: skip
    for result, r in zip(answer["results"], scanned, strict=False):
        assert (result["signup_id"], result["name"]) == (signup_of[r.n]["id"], f"居民{r.n}")
        assert result["phone"] == masked(r.n)
        assert datetime.fromisoformat(result["attended_at"]) == scanned_at[r.n]  # its scan
        assert result["by"] == f"user:{organizer.user_id}"
    assert answer["counts"] == {
        "attended": 3, "already_attended": 0, "ticket_invalid": 1, "scan_time_invalid": 0,
    }  # fmt: skip
    # The device sends the batch again (it never saw the answer): the same answer.
    sent_twice = await client.post(batch, json={"scans": scans}, headers=organizer.headers)
    assert sent_twice.status == 200
    assert await sent_twice.json() == answer
    # At the main door, a ticket the device scanned is already in, at the device's time.
    late = await client.post(
        door, json={"ticket": tickets[scanned[0].n]}, headers=organizer.headers
    )
    assert late.status == 409
    details = (await late.json())["error"]["details"]
    assert datetime.fromisoformat(details["attended_at"]) == scanned_at[scanned[0].n]

    attendance = await client.get(
        f"/api/v1/admin/events/{event_id}/attendance", headers=organizer.headers
    )
    assert await attendance.json() == {
        "capacity": CAPACITY, "seats_left": 0, "confirmed": CAPACITY,
        "waitlisted": RESIDENTS - CAPACITY - 2, "cancelled": 2,
        "attended": 4, "not_attended": 1, "attendance_rate": 0.8,
    }  # fmt: skip

    # -- the organizer's lists mask every number ----------------------------------------
    admin_signups = f"/api/v1/admin/events/{event_id}/signups"
    listed = await client.get(f"{admin_signups}?limit=50", headers=organizer.headers)
    assert listed.status == 200
    assert_no_full_phone(await listed.text())
    everyone = (await listed.json())["items"]
    # Each sign-up once, in the order made (ids are made in order), name and number masked.
    assert [i["id"] for i in everyone] == sorted(s["id"] for s in signup_of.values())
    for item in everyone:
        n = int(item["name"].removeprefix("居民"))
        assert (item["id"], item["phone"]) == (signup_of[n]["id"], masked(n))
    waiting = await client.get(f"{admin_signups}?status=waitlisted", headers=organizer.headers)
    assert_no_full_phone(await waiting.text())
    assert [(i["name"], i["position"]) for i in (await waiting.json())["items"]] == [
        (f"居民{r.n}", place) for place, r in enumerate(still_waiting, start=1)
    ]
    promoted_ids = {signup_of[r.n]["id"] for r in promoted}
    assert {i["id"] for i in everyone if i["promoted"]} == promoted_ids

    # -- the Excel export: every sign-up, in the order made, numbers in full ------------
    export = await client.get(f"{admin_signups}.xlsx", headers=organizer.headers)
    assert export.status == 200
    rows = sheet_rows(await export.read())
    assert rows[0][0] == "劳模进社区 报名名单"
    header_at = rows.index(list(HEADERS))
    table, totals = rows[header_at + 1 : -1], rows[-1]
    attended_at = {holder.n: door_time, **scanned_at}
    position_of = {r.n: place for place, r in enumerate(still_waiting, start=1)}
    label = {"confirmed": "已确认", "waitlisted": "候补中", "cancelled": "已取消"}
    expected = []
    for number, item in enumerate(everyone, start=1):
        n = int(item["name"].removeprefix("居民"))
        expected.append(
            [
                number,
                f"居民{n}",
                phone_of(n),  # in full: the one place
                label[item["status"]],
                position_of.get(n),
                local(item["created_at"]),
                local(item["confirmed_at"]) if item["confirmed_at"] else None,
                local(attended_at[n]) if n in attended_at else None,
                local(item["cancelled_at"]) if item["cancelled_at"] else None,
                "本人取消" if item["status"] == "cancelled" else None,
            ]
        )
    assert table == expected

    def named(status: str) -> set[str]:
        return {row[1] for row in table if row[3] == status}

    assert named("已确认") == {f"居民{r.n}" for r in confirmed}
    assert named("候补中") == {f"居民{r.n}" for r in still_waiting}
    assert named("已取消") == {f"居民{r.n}" for r in leavers}
    assert table[[row[1] for row in table].index(f"居民{no_show.n}")][7] is None
    assert totals[:8] == [
        "合计", f"{RESIDENTS} 人", None, "已确认 5，候补中 13，已取消 2",
        None, None, None, "已签到 4",
    ]  # fmt: skip
