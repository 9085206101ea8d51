"""Organizers' pages over HTTP (a browser without JavaScript): events by status, the
event form through the API's models, publish and cancel, the sign-up list (phones
masked), the attendance, the Excel export, and the door page's check-ins, typed one by
one and sent as a batch, all through the events room's rules."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from typing import Any

import orjson
from openpyxl import load_workbook

from handlers.auth.keys import AUTH_SERVICE
from handlers.events.export import EXPORT_ACTION
from handlers.events.keys import EVENT_SERVICE, SIGNUP_SERVICE
from handlers.events.repo import new_id
from handlers.stories.keys import PEOPLE_SERVICE
from server.clock import SHANGHAI, SettableClock
from server.keys import AUDIT
from server.principal import Principal, Role
from tests.console.test_sessions import staff_account
from tests.events.conftest import phone_of, resident
from tests.fixtures.app import Client
from tests.fixtures.console import ConsoleBrowser


async def organizer(client: Client, *roles: Role) -> tuple[ConsoleBrowser, Principal]:
    """A signed-in console browser of a new staff account, and its principal."""
    username, password = await staff_account(client, *(roles or (Role.organizer,)))
    browser = ConsoleBrowser(client)
    await browser.sign_in(username, password)
    user = await client.app[AUTH_SERVICE].get_staff_user(username)
    return browser, Principal(user.id, "test", frozenset(user.roles), "test")


def local(clock: SettableClock, days: float) -> str:
    """A ``datetime-local`` value ``days`` from now (Asia/Shanghai)."""
    return (clock.now() + timedelta(days=days)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def event_form(clock: SettableClock, **fields: Any) -> dict[str, Any]:
    form = {
        "title": "工匠进社区",
        "description": "一堂动手课",
        "venue_type": "community",
        "venue_name": "示例社区",
        "address": "株洲市芦淞区",
        "starts_at": local(clock, 7),
        "ends_at": local(clock, 7.1),
        "capacity": "10",
        "waitlist_enabled": "on",
    }
    form.update(fields)
    return {name: value for name, value in form.items() if value is not None}


async def published_event(client: Client, owner: Principal, **fields: Any) -> str:
    events = client.app[EVENT_SERVICE]
    starts = events.clock.now() + timedelta(days=7)
    doc = await events.create(
        owner,
        {"title": "工匠进校园", "venue_type": "school", "venue_name": "示例中学",
         "starts_at": starts, "ends_at": starts + timedelta(hours=2), "capacity": 10,
         **fields},
    )  # fmt: skip
    await events.publish(owner, str(doc["_id"]))
    return str(doc["_id"])


async def ticket_of(client: Client, event_id: str, name: str, n: int) -> tuple[str, str]:
    """A resident's sign-up of the event: its ticket (confirmed) and the resident's id."""
    signups = client.app[SIGNUP_SERVICE]
    user_id = new_id()
    result = await signups.sign_up(resident(user_id), event_id, name, phone_of(n))
    out = await signups.out(result.signup)
    return out.ticket or "", user_id


def forged(ticket: str) -> str:
    """The ticket with one character of its signature changed (still well formed)."""
    at = 60
    return ticket[:at] + ("B" if ticket[at] == "A" else "A") + ticket[at + 1 :]


def one_scan(ticket: str) -> str:
    """The door page's batch field holding one scan of ``ticket``."""
    return orjson.dumps([{"ticket": ticket, "scanned_at": "2030-01-01T00:00:00Z"}]).decode()


def event_id_in(location: str | None) -> str:
    found = re.fullmatch(r"/admin/events/([0-9a-f]{24})\?saved=1", location or "")
    assert found, location
    return found.group(1)


# -- events ------------------------------------------------------------------------------


async def test_an_organizer_writes_a_draft_edits_publishes_and_cancels_it(
    client: Client, clock: SettableClock
) -> None:
    browser, me = await organizer(client)
    empty = await browser.get("/admin/events")
    assert empty.status == 200 and "还没有活动" in empty.text
    assert 'href="/admin/events"' in empty.text  # the navigation's 活动
    people = client.app[PEOPLE_SERVICE]
    speaker = await people.create(me, {"name": "吴运铎", "honours": [{"name": "全国劳动模范"}]})
    speaker_id = str(speaker["_id"])

    new = await browser.get("/admin/events/new")
    assert "吴运铎（全国劳动模范）" in new.text
    # Refused by the API's model, then by the service's order of times: nothing written.
    invalid = await browser.post(
        "/admin/events/new", event_form(clock, title="", capacity="0"), csrf=new.csrf_token
    )
    assert invalid.status == 422
    assert "标题：不能为空" in invalid.text and "名额：至少为 1" in invalid.text
    assert 'id="title" name="title" required maxlength="80" value="" aria-invalid="true"' in (
        invalid.text
    )
    backwards = await browser.post(
        "/admin/events/new",
        event_form(clock, ends_at=local(clock, 6)),
        csrf=new.csrf_token,
    )
    assert backwards.status == 422 and "结束时间：须晚于开始时间" in backwards.text
    assert "工匠进社区" in backwards.text  # the form kept as typed
    assert "还没有活动" in (await browser.get("/admin/events")).text

    saved = await browser.post(
        "/admin/events/new", event_form(clock, speaker_ids=speaker_id), csrf=new.csrf_token
    )
    assert saved.status == 303
    event_id = event_id_in(saved.location)
    page = await browser.get(saved.location or "")
    assert "已保存" in page.text and "草稿" in page.text and "吴运铎" in page.text
    drafts = await browser.get("/admin/events?status=draft")
    assert f'href="/admin/events/{event_id}"' in drafts.text
    assert "没有已发布的活动" in (await browser.get("/admin/events?status=published")).text

    edit = await browser.get(f"/admin/events/{event_id}/edit")
    assert f'<option value="{speaker_id}" selected>' in edit.text
    shown_start = re.search(r'name="starts_at" type="datetime-local" value="([^"]+)"', edit.text)
    assert shown_start is not None
    edited = await browser.post(
        f"/admin/events/{event_id}/edit",
        event_form(clock, title="工匠进社区（第二期）", capacity="30",
                   starts_at=shown_start.group(1)),
        csrf=edit.csrf_token,
    )  # fmt: skip
    assert (edited.status, edited.location) == (303, f"/admin/events/{event_id}?saved=1")
    doc = await client.app[EVENT_SERVICE].owned(me, event_id)
    assert (doc["title"], doc["capacity"], doc["speaker_ids"]) == ("工匠进社区（第二期）", 30, [])
    assert doc["waitlist_enabled"] is True

    page = await browser.get(f"/admin/events/{event_id}")
    published = await browser.post(f"/admin/events/{event_id}/publish", {}, csrf=page.csrf_token)
    assert (published.status, published.location) == (303, f"/admin/events/{event_id}?published=1")
    assert (await client.get(f"/api/v1/events/{event_id}")).status == 200  # residents see it
    listed = await browser.get("/admin/events?status=published")
    assert "工匠进社区（第二期）" in listed.text

    await ticket_of(client, event_id, "报名者", 1)
    confirm = await browser.get(f"/admin/events/{event_id}/cancel")
    assert "取消活动？" in confirm.text and "1 人的报名" in confirm.text
    cancelled = await browser.post(f"/admin/events/{event_id}/cancel", {}, csrf=confirm.csrf_token)
    assert (cancelled.status, cancelled.location) == (303, f"/admin/events/{event_id}?cancelled=1")
    page = await browser.get(cancelled.location or "")
    assert "活动已取消" in page.text and f"/admin/events/{event_id}/edit" not in page.text
    attendance = await client.app[SIGNUP_SERVICE].attendance(doc)
    assert (attendance.confirmed, attendance.cancelled) == (0, 1)
    again = await browser.post(
        f"/admin/events/{event_id}/edit", event_form(clock), csrf=page.csrf_token
    )
    assert (again.status, again.error_code) == (409, "invalid_transition")
    assert "已取消" in (await browser.get("/admin/events?status=cancelled")).text


async def test_capacity_below_the_seats_held_is_shown_on_the_form(
    client: Client, clock: SettableClock
) -> None:
    browser, me = await organizer(client)
    event_id = await published_event(client, me, capacity=3)
    for n in range(2):
        await ticket_of(client, event_id, f"居民{n}", n)
    edit = await browser.get(f"/admin/events/{event_id}/edit")
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'name="(\w+)"[^>]*? value="([^"]*)"', edit.text)
        if name != "csrf_token"
    }
    answer = await browser.post(
        f"/admin/events/{event_id}/edit",
        {**fields, "venue_type": "school", "capacity": "1"},
        csrf=edit.csrf_token,
    )
    assert answer.status == 422 and "名额：不能少于已确认报名的 2 人" in answer.text
    doc = await client.app[EVENT_SERVICE].owned(me, event_id)
    assert doc["capacity"] == 3 and doc["waitlist_enabled"] is True  # nothing written


async def test_an_admin_sees_every_event_with_its_organizer(client: Client) -> None:
    _, me = await organizer(client)
    await published_event(client, me, title="某组织者的活动")
    admin, _ = await organizer(client, Role.admin)
    listed = await admin.get("/admin/events")
    assert "某组织者的活动" in listed.text and "组织者" in listed.text
    other, _ = await organizer(client)
    assert "某组织者的活动" not in (await other.get("/admin/events")).text


async def test_another_organizers_event_is_not_found(client: Client) -> None:
    _, owner = await organizer(client)
    event_id = await published_event(client, owner)
    ticket, _ = await ticket_of(client, event_id, "居民", 1)
    stranger, _ = await organizer(client)
    token = (await stranger.get("/admin/events")).csrf_token
    base = f"/admin/events/{event_id}"
    for page in ("", "/edit", "/cancel", "/signups", "/signups.xlsx", "/door"):
        answer = await stranger.get(base + page)
        assert (answer.status, answer.error_code) == (404, "not_found"), page
    for action, data in (
        ("/publish", {}),
        ("/cancel", {}),
        ("/edit", {"title": "改名"}),
        ("/door", {"ticket": ticket}),
        ("/door/scans", {"scans": one_scan(ticket)}),
    ):
        answer = await stranger.post(base + action, data, csrf=token)
        assert (answer.status, answer.error_code) == (404, "not_found"), action
    doc = await client.app[EVENT_SERVICE].owned(owner, event_id)
    assert doc["status"] == "published" and doc["title"] == "工匠进校园"
    attendance = await client.app[SIGNUP_SERVICE].attendance(doc)
    assert attendance.attended == 0


async def test_forms_without_their_csrf_token_are_refused(client: Client) -> None:
    browser, me = await organizer(client)
    event_id = await published_event(client, me)
    ticket, _ = await ticket_of(client, event_id, "居民", 1)
    base = f"/admin/events/{event_id}"
    for action, data in (
        ("/cancel", {}),
        ("/door", {"ticket": ticket}),
        ("/door/scans", {"scans": one_scan(ticket)}),
    ):
        answer = await browser.post(base + action, data)
        assert (answer.status, answer.error_code) == (403, "csrf_invalid"), action
        other_session, _ = await organizer(client)  # a token of another session
        foreign = (await other_session.get("/admin/events")).csrf_token
        answer = await browser.post(base + action, data, csrf=foreign)
        assert (answer.status, answer.error_code) == (403, "csrf_invalid"), action
    doc = await client.app[EVENT_SERVICE].owned(me, event_id)
    assert doc["status"] == "published"
    assert (await client.app[SIGNUP_SERVICE].attendance(doc)).attended == 0


# -- sign-ups ----------------------------------------------------------------------------


async def test_sign_ups_by_status_with_masked_phones_and_the_attendance(client: Client) -> None:
    browser, me = await organizer(client)
    event_id = await published_event(client, me, capacity=2)
    people = [await ticket_of(client, event_id, f"居民{n}", 100 + n) for n in range(5)]
    signups = client.app[SIGNUP_SERVICE]
    await signups.cancel_mine(resident(people[4][1]), event_id)
    await signups.check_in(event_id, people[0][0], f"user:{me.user_id}")
    base = f"/admin/events/{event_id}/signups"
    pages = {
        status: await browser.get(base + (f"?status={status}" if status else ""))
        for status in ("", "confirmed", "waitlisted", "cancelled")
    }
    pages["event"] = await browser.get(f"/admin/events/{event_id}")
    pages["door"] = await browser.get(f"/admin/events/{event_id}/door")
    for name, page in pages.items():
        assert page.status == 200, name
        assert not [n for n in range(5) if phone_of(100 + n) in page.text], name  # masked
    everyone = pages[""].text
    assert all(f"居民{n}" in everyone for n in range(5))
    assert "138****0100" in everyone and "138****0104" in everyone
    confirmed = pages["confirmed"].text
    assert "居民0" in confirmed and "居民1" in confirmed and "居民2" not in confirmed
    assert confirmed.count("已签到</span>") == 1 and "未签到" in confirmed
    waitlisted = pages["waitlisted"].text
    assert re.search(r"居民2.*?第 1 位.*?居民3.*?第 2 位", waitlisted, re.S)
    assert "本人取消" in pages["cancelled"].text and "居民4" in pages["cancelled"].text
    # Counts and the rate (1 of 2 confirmed), on the list and the event's page.
    for text in (pages[""].text, pages["event"].text):
        assert "<dt>已确认</dt><dd>2</dd>" in text and "<dt>候补</dt><dd>2</dd>" in text
        assert "<dt>已签到</dt><dd data-attended>1</dd>" in text
        assert "<dt>签到率</dt><dd>50.0%</dd>" in text
    assert f'href="/admin/events/{event_id}/signups.xlsx" download' in everyone

    # Paged: one a page, the waitlist's positions running on.
    first = await browser.get(base + "?status=waitlisted&limit=1")
    cursor = re.search(r"cursor=([^\"&]+)", first.text)
    assert cursor and "第 1 位" in first.text
    second = await browser.get(base + f"?status=waitlisted&limit=1&cursor={cursor.group(1)}")
    assert "居民3" in second.text and "第 2 位" in second.text and "下一页" not in second.text
    bad = await browser.get(base + "?status=everything")
    assert bad.status == 422


async def test_the_excel_export_has_the_numbers_and_is_audited(client: Client) -> None:
    browser, me = await organizer(client)
    event_id = await published_event(client, me, title="导出测试")
    _, user_id = await ticket_of(client, event_id, "张三", 7)
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    resp = await client.get(f"/admin/events/{event_id}/signups.xlsx", headers={"Cookie": cookie})
    assert resp.status == 200 and resp.content_type.endswith("spreadsheetml.sheet")
    assert "attachment" in resp.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert [1, "张三", phone_of(7), "已确认"] in [row[:4] for row in rows]
    audit = await client.app[AUDIT].export_personal_data(user_id)
    exported = [entry for entry in audit if entry["action"] == EXPORT_ACTION]
    assert [entry["actor"] for entry in exported] == [f"user:{me.user_id}"]


# -- the door ----------------------------------------------------------------------------


async def test_manual_check_in_first_again_forged_and_another_events(client: Client) -> None:
    browser, me = await organizer(client)
    event_id = await published_event(client, me)
    other_event = await published_event(client, me, title="另一场")
    ticket, _ = await ticket_of(client, event_id, "李四", 11)
    elsewhere, _ = await ticket_of(client, other_event, "王五", 12)
    door = f"/admin/events/{event_id}/door"
    page = await browser.get(door)
    assert 'data-ticket-key="' in page.text and f'data-event-id="{event_id}"' in page.text
    assert client.app[SIGNUP_SERVICE].tickets.public_key in page.text
    assert "<script>" not in page.text  # the script is a file (CSP)

    first = await browser.post(door, {"ticket": f"  {ticket}\n"}, csrf=page.csrf_token)
    assert first.status == 303 and (first.location or "").startswith(door + "?result=attended")
    shown = await browser.get(first.location or "")
    assert "已签到" in shown.text and "李四（138****0011）" in shown.text
    assert "已签到 <strong data-attended>1</strong>" in shown.text

    again = await browser.post(door, {"ticket": ticket}, csrf=page.csrf_token)
    assert (again.location or "").startswith(door + "?result=already_attended")
    shown = await browser.get(again.location or "")
    username = (await client.app[AUTH_SERVICE].get_user(me.user_id)).username
    assert "已经签到过" in shown.text and f"由 {username} 签到" in shown.text

    for bad in (forged(ticket), elsewhere, "T1.nonsense", "x" * 300):
        refused = await browser.post(door, {"ticket": bad}, csrf=page.csrf_token)
        assert refused.status == 422 and "无效票" in refused.text, bad[:20]
        assert 'aria-invalid="true"' in refused.text
    empty = await browser.post(door, {"ticket": "  "}, csrf=page.csrf_token)
    assert empty.status == 422 and "请输入票号" in empty.text
    doc = await client.app[EVENT_SERVICE].owned(me, event_id)
    assert (await client.app[SIGNUP_SERVICE].attendance(doc)).attended == 1


async def test_offline_scans_as_one_batch_twice(client: Client) -> None:
    browser, me = await organizer(client)
    event_id = await published_event(client, me)
    other_event = await published_event(client, me, title="另一场")
    tickets = [(await ticket_of(client, event_id, f"到场{n}", 20 + n))[0] for n in range(2)]
    elsewhere, _ = await ticket_of(client, other_event, "别场", 30)
    page = await browser.get(f"/admin/events/{event_id}/door")
    now = client.app[EVENT_SERVICE].clock.now()
    scans = [
        {"ticket": tickets[0], "scanned_at": (now - timedelta(minutes=2)).isoformat()},
        {"ticket": tickets[1], "scanned_at": (now - timedelta(minutes=1)).isoformat()},
        {"ticket": forged(tickets[0]), "scanned_at": now.isoformat()},
        {"ticket": elsewhere, "scanned_at": now.isoformat()},
        {"ticket": tickets[0], "scanned_at": now.isoformat()},  # scanned twice: once counted
    ]
    url = f"/admin/events/{event_id}/door/scans"
    answers = []
    for _ in range(2):  # sent again (the answer was lost): the same answer, nothing new
        answer = await browser.post(url, {"scans": orjson.dumps(scans).decode()},
                                    csrf=page.csrf_token)  # fmt: skip
        assert answer.status == 200 and answer.headers["Content-Type"].startswith(
            "application/json"
        )
        answers.append(orjson.loads(answer.text))
    assert answers[0] == answers[1]
    body = answers[0]
    assert [r["result"] for r in body["results"]] == [
        "attended", "attended", "ticket_invalid", "ticket_invalid", "already_attended",
    ]  # fmt: skip
    username = (await client.app[AUTH_SERVICE].get_user(me.user_id)).username
    assert body["results"][0]["name"] == "到场0" and body["results"][0]["phone"] == "138****0020"
    assert body["results"][4]["by"] == username  # a name, not an id
    assert body["counts"] == {"attended": 2, "already_attended": 1, "ticket_invalid": 2,
                              "scan_time_invalid": 0}  # fmt: skip
    assert body["attendance"]["attended"] == 2 and body["attendance"]["attendance_rate"] == 1.0

    for bad in ("not json", orjson.dumps({"ticket": tickets[0]}).decode(), "[]"):
        refused = await browser.post(url, {"scans": bad}, csrf=page.csrf_token)
        assert refused.status == 422, bad
    too_many = orjson.dumps([scans[0]] * 501).decode()
    assert (await browser.post(url, {"scans": too_many}, csrf=page.csrf_token)).status == 422
