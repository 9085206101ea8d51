"""The dashboard (数据看板) over HTTP, as a browser without JavaScript sees it: each role
its sections, a teacher their own school's numbers only, the tables' numbers those put
in (check-ins per Asia/Shanghai day across midnight, hours by category), the charts as
accessible SVG; and, after the demo seed, charts with something in them."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from handlers.auth import DEMO_PASSWORD
from handlers.auth.keys import AUTH_SERVICE
from handlers.events.keys import EVENT_SERVICE, SIGNUP_SERVICE
from handlers.stories.demo import DEFAULT_DATA_DIR
from handlers.stories.keys import ENGAGEMENT_SERVICE
from server.clock import SHANGHAI, SettableClock
from server.principal import Principal, Role
from server.room import DemoSource
from server.rooms import ROOMS
from tests.console.test_sessions import signed_in
from tests.events.conftest import phone_of
from tests.fixtures.app import Client
from tests.fixtures.console import ConsoleBrowser
from tests.fixtures.sessions import Session, sign_in_staff, sign_in_wechat
from tests.labour.conftest import World, join, make_task, post_ok, refreshed
from tests.labour.conftest import world as world  # the fixture, used here too
from tests.labour.test_checkins import check_in
from tests.stories.conftest import create_story, publish
from tests.stories.test_demo import _write_art

PAGE = "/admin/dashboard"
LABOUR, EVENTS, STORIES = "劳动教育打卡", "五进活动：报名与签到", "本周阅读最多的稿件"


class _Tables(HTMLParser):
    """The text of every cell of every table, by the table's id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table is not None and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def rows_by_label(table: list[list[str]]) -> dict[str, list[str]]:
    """The rows after the header by their first cell (the footer's too: 合计)."""
    return {row[0]: row[1:] for row in table[1:] if row}


def sections(page: str) -> set[str]:
    return {name for name in (LABOUR, EVENTS, STORIES) if f">{name}</h2>" in page}


async def page_of(browser: ConsoleBrowser, query: str = "") -> str:
    answer = await browser.get(PAGE + query)
    assert answer.status == 200, (answer.status, answer.text[:500])
    return answer.text


# -- who sees what --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ((Role.teacher,), {LABOUR}),
        ((Role.organizer,), {EVENTS}),
        ((Role.editor,), {STORIES}),
        ((Role.reviewer,), {STORIES}),
        ((Role.teacher, Role.organizer), {LABOUR, EVENTS}),
        ((Role.admin,), {LABOUR, EVENTS, STORIES}),
    ],
)
async def test_each_role_sees_its_sections_only(
    client: Client, roles: tuple[Role, ...], expected: set[str]
) -> None:
    browser = await signed_in(client, *roles)
    page = await page_of(browser)
    assert sections(page) == expected
    assert '<a href="/admin/dashboard" aria-current="page">数据看板</a>' in page
    home = await browser.get("/admin/")
    assert 'href="/admin/dashboard"' in home.text  # in the navigation and the home tiles


async def test_staff_without_a_section_get_neither_the_page_nor_the_link(client: Client) -> None:
    browser = await signed_in(client, Role.resident)
    answer = await browser.get(PAGE)
    assert answer.status == 403 and answer.error_code == "forbidden"
    assert "数据看板" not in (await browser.get("/admin/")).text


# -- labour: a teacher's own school only, the numbers put in -------------------------------


def shanghai(day: str, hour: int, minute: int) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00").replace(tzinfo=SHANGHAI)


async def review(client: Client, teacher: Session, answer: Any, decision: str) -> None:
    checkin = await answer.json()
    assert answer.status == 201, checkin
    await post_ok(client, f"/checkins/{checkin['id']}/review", teacher, {"decision": decision})


async def across_midnight(client: Client, clock: SettableClock, world: World) -> None:
    """The labour tests' two schools (A: teacher A's class A1, teacher A2's class A2;
    B: class B1), a second student in A1, two tasks of A1 and one of each other class,
    and check-ins either side of a Shanghai midnight (9 and 10 December), decided."""
    s4 = await sign_in_wechat(client, "s4")
    await join(client, s4, world.a1["join_code"], "张四")
    a1, a2, b1 = world.a1["id"], world.a2["id"], world.b1["id"]
    desk = await make_task(client, world.a.teacher, [a1], hours=0.5)
    garden = await make_task(client, world.a.teacher, [a1], category="productive", hours=1.5)
    other = await make_task(client, world.teacher2, [a2], hours=1)
    far = await make_task(client, world.b.teacher, [b1], category="service", hours=2)
    clock.set(shanghai("2026-12-09", 23, 55))  # 15:55 UTC
    people = (world.s1, s4, world.s2, world.s3, world.a.teacher, world.teacher2, world.b.teacher)
    for session in people:  # a week on: new access tokens
        await refreshed(client, session)
    first = await check_in(client, world.s1, desk["id"])
    second = await check_in(client, s4, garden["id"])
    clock.set(shanghai("2026-12-10", 0, 2))  # 16:02 UTC, the same UTC day
    third = await check_in(client, world.s1, desk["id"])
    fourth = await check_in(client, world.s2, other["id"])
    fifth = await check_in(client, world.s3, far["id"])
    sixth = await check_in(client, s4, desk["id"])  # left for review
    assert sixth.status == 201
    await review(client, world.a.teacher, first, "approved")
    await review(client, world.a.teacher, second, "approved")
    await review(client, world.a.teacher, third, "rejected")
    await review(client, world.teacher2, fourth, "approved")
    await review(client, world.b.teacher, fifth, "approved")


async def console_of(client: Client, username: str) -> ConsoleBrowser:
    """The console signed in as the staff account ``username``, its password reset to a
    known one first (which ends its API sessions: call this once the API is done)."""
    auth = client.app[AUTH_SERVICE]
    user = await auth.get_staff_user(username)
    password = f"pw-{uuid.uuid4().int % 10**16:016d}"
    await auth.create_staff_user(username, password, list(user.roles), update=True)
    browser = ConsoleBrowser(client)
    await browser.sign_in(username, password)
    return browser


async def test_a_teacher_sees_their_classes_and_school_with_the_numbers_put_in(
    client: Client, clock: SettableClock, world: World
) -> None:
    await across_midnight(client, clock, world)
    teacher = await console_of(client, "teacher_a")
    page = await page_of(teacher)
    assert '<option value="mine" selected>我的全部班级</option>' in page
    assert f'value="school:{world.a.id}"' in page and "全校：株洲市第一小学" in page
    assert world.b.id not in page and world.a2["id"] not in page  # not theirs
    found = tables(page)
    days = rows_by_label(found["table-checkins"])
    assert found["table-checkins"][0][:5] == ["日期", "已通过", "待审核", "未通过", "合计"]
    assert days["2026-12-09"] == ["2", "0", "0", "2"]
    assert days["2026-12-10"] == ["0", "1", "1", "2"]
    assert days["2026-11-11"] == ["0", "0", "0", "0"]  # 30 days, today's included
    assert "2026-11-10" not in days
    assert days["合计"] == ["2", "1", "1", "4"]
    hours = rows_by_label(found["table-hours"])
    assert hours["日常生活劳动"] == ["0.5", "1"]
    assert hours["生产劳动"] == ["1.5", "1"]
    assert hours["服务性劳动"] == ["0", "0"]
    assert hours["合计"] == ["2", "2"]

    school = tables(await page_of(teacher, f"?scope=school:{world.a.id}"))
    days = rows_by_label(school["table-checkins"])
    assert days["2026-12-10"] == ["1", "1", "1", "3"]  # A2's check-in too, B1's not
    assert rows_by_label(school["table-hours"])["日常生活劳动"] == ["1.5", "2"]
    assert rows_by_label(school["table-hours"])["服务性劳动"] == ["0", "0"]
    one = tables(await page_of(teacher, f"?scope=class:{world.a1['id']}"))
    assert one["table-checkins"][1:] == found["table-checkins"][1:]  # A1 is all theirs

    for other in (
        f"school:{world.b.id}",
        f"class:{world.b1['id']}",
        f"class:{world.a2['id']}",  # a colleague's class of the same school
        "class:" + "f" * 24,
        "school:nothex",
        "everything",
    ):
        answer = await teacher.get(f"{PAGE}?scope={other}")
        assert (answer.status, answer.error_code) == (404, "not_found"), other
    huge = await teacher.get(f"{PAGE}?scope=" + "x" * 5000)
    assert (huge.status, huge.error_code) == (422, "invalid_request")


async def test_an_admin_picks_any_school_or_class(
    client: Client, clock: SettableClock, world: World
) -> None:
    await across_midnight(client, clock, world)
    admin = await console_of(client, "admin1")
    page = await page_of(admin, f"?scope=school:{world.b.id}")
    assert "株洲市第一小学" in page and "株洲市第二小学" in page  # every school to pick
    assert f'value="class:{world.b1["id"]}"' in page  # and the classes of this one
    found = tables(page)
    assert rows_by_label(found["table-checkins"])["2026-12-10"] == ["1", "0", "0", "1"]
    assert rows_by_label(found["table-hours"])["服务性劳动"] == ["2", "1"]
    colleague = tables(await page_of(admin, f"?scope=class:{world.a2['id']}"))
    assert rows_by_label(colleague["table-checkins"])["合计"] == ["1", "0", "0", "1"]


async def test_the_charts_are_images_with_a_title_and_a_description(
    client: Client, clock: SettableClock, world: World
) -> None:
    await across_midnight(client, clock, world)
    page = await page_of(await console_of(client, "teacher_a"))
    for chart in ("chart-checkins", "chart-hours"):
        svg = re.search(rf'<svg [^>]*id="{chart}"[^>]*>', page)
        assert svg, chart
        assert 'role="img"' in svg[0]
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in svg[0]
        assert re.search(rf'<title id="{chart}-title">[^<]+</title>', page)
        assert re.search(rf'<desc id="{chart}-desc">[^<]+</desc>', page)
    assert re.search(r'<title id="chart-checkins-title">每天的打卡次数（我的全部班级，', page)
    assert "共 4 次，其中已通过 2 次、待审核 1 次、未通过 1 次" in page
    # 9 December's column: two approved check-ins, drawn as a bar with its tooltip.
    assert "<title>12月9日：已通过 2，待审核 0，未通过 0</title>" in page


# -- events and stories ---------------------------------------------------------------------


async def test_organizers_see_their_events_and_admins_everyones(
    client: Client, clock: SettableClock
) -> None:
    events, signups = client.app[EVENT_SERVICE], client.app[SIGNUP_SERVICE]
    mine = await sign_in_staff(client, "org_mine", Role.organizer)
    theirs = await sign_in_staff(client, "org_theirs", Role.organizer)
    await sign_in_staff(client, "admin1", Role.admin)
    starts = clock.now() + timedelta(days=3)
    made = {}
    for who, title, capacity in ((mine, "我的活动", 2), (theirs, "别人的活动", 10)):
        principal = Principal(who.user_id, "t", frozenset({Role.organizer}), "t")
        fields = {"title": title, "venue_type": "community", "venue_name": "示例社区",
                  "starts_at": starts, "ends_at": starts + timedelta(hours=2),
                  "capacity": capacity}  # fmt: skip
        doc = await events.create(principal, fields)
        await events.publish(principal, str(doc["_id"]))
        made[title] = (str(doc["_id"]), principal)
    event_id, _ = made["我的活动"]
    results = []
    for n in range(3):  # two seats: the third waits
        resident = await sign_in_wechat(client, f"r{n}")
        reader = Principal(resident.user_id, "t", frozenset({Role.resident}), "t")
        results.append(await signups.sign_up(reader, event_id, f"居民{n}", phone_of(n)))
    await signups.check_in(event_id, signups.answer(results[0]).ticket, mine.user_id)

    organizer = await console_of(client, "org_mine")
    page = await page_of(organizer)
    assert sections(page) == {EVENTS} and "别人的活动" not in page
    row = rows_by_label(tables(page)["table-events"])["我的活动"]
    assert row[2:6] == ["2", "2", "1", "1"]  # capacity, confirmed, waitlisted, attended
    assert row[6] == "—"  # not started yet: no attendance rate
    assert re.search(r'<svg [^>]*id="chart-events"[^>]*role="img"', page)
    everyone = tables(await page_of(await console_of(client, "admin1")))["table-events"]
    assert {row[0] for row in everyone[1:]} == {"我的活动", "别人的活动"}


async def test_editors_see_the_most_read_stories_of_the_week(client: Client) -> None:
    staff = {
        "editor": await sign_in_staff(client, "editor1", Role.editor),
        "reviewer": await sign_in_staff(client, "reviewer1", Role.reviewer),
    }
    reads = {"读得多": 5, "读得少": 2, "没人读": 0}
    for title, count in reads.items():
        story = await create_story(client, staff["editor"], title=title)
        await publish(client, staff, story["id"])
        for _ in range(count):
            assert (await client.get(f"/api/v1/stories/{story['id']}")).status == 200
    engagement = client.app[ENGAGEMENT_SERVICE]
    await engagement.views.flush()
    await engagement.store_views()
    page = await page_of(await console_of(client, "reviewer1"))
    table = tables(page)["table-reads"]
    assert [row[:5] for row in table[1:]] == [
        ["1", "读得多", "已发布", "5", "5"],
        ["2", "读得少", "已发布", "2", "2"],
    ]
    assert re.search(r'<svg [^>]*id="chart-reads"[^>]*role="img"', page)


# -- the demo ------------------------------------------------------------------------------


async def test_after_the_demo_seed_the_teacher_and_the_admin_see_full_charts(
    client: Client, tmp_path: Path
) -> None:
    _write_art(tmp_path)
    source = DemoSource(data=DEFAULT_DATA_DIR, art=tmp_path)
    for room in ROOMS:
        if room.seed is not None:
            await room.seed(source)(client.app)
    for username in ("teacher", "admin"):
        browser = ConsoleBrowser(client)
        await browser.sign_in(username, DEMO_PASSWORD)
        page = await page_of(browser)
        found = tables(page)
        days = rows_by_label(found["table-checkins"])
        approved, pending, rejected, _ = map(int, days["合计"])
        assert approved > 30 and pending > 5 and rejected > 0, days["合计"]
        assert sum(1 for label, row in days.items() if label != "合计" and row[-1] != "0") > 15
        assert all(float(row[0]) > 0 for row in rows_by_label(found["table-hours"]).values())
        assert page.count("<rect ") > 30  # columns and bars drawn
    # The admin's other sections: events with sign-ups and attendance, stories read.
    events = rows_by_label(found["table-events"])
    assert len(events) >= 6 and sum(int(row[3]) for row in events.values()) > 50
    assert [row[5] for row in events.values() if row[1] == "已结束"] == ["23", "17"]
    assert len(found["table-reads"]) > 5
