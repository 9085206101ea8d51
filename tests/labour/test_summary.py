"""Summaries, streaks and badges (issue 10, item 6), with the clock set by the test.

Check-ins of many days are made through the services (a student's session would not
survive the months the clock jumps); the routes themselves are called over HTTP.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from handlers.labour import consent
from handlers.labour.keys import REVIEW_SERVICE, SCHOOL_SERVICE, SUMMARY_SERVICE, TASK_SERVICE
from handlers.labour.schemas import ConsentIn, TaskIn
from server.clock import SettableClock
from server.principal import Principal, Role
from tests.fixtures.app import Client
from tests.fixtures.sessions import sign_in_wechat
from tests.labour.conftest import API, World, get_ok, join, make_task, post_ok, shanghai_noon
from tests.labour.test_checkins import check_in


def as_principal(user_id: str, *roles: Role) -> Principal:
    return Principal(user_id, "test", frozenset(roles), "test")


class Days:
    """A student checking in to one task on chosen days, and their teacher deciding."""

    def __init__(
        self, app: web.Application, clock: SettableClock, world: World, task_id: str
    ) -> None:
        self.app, self.clock, self.task_id = app, clock, task_id
        self.student = as_principal(world.s1.user_id)
        self.teacher = as_principal(world.a.teacher.user_id, Role.teacher)

    async def check_in(self, on: str, for_day: str | None = None) -> str:
        """Check in on day ``on`` (noon, Shanghai) for ``for_day`` (a make-up) or that day."""
        self.clock.set(shanghai_noon(on))
        day = date.fromisoformat(for_day) if for_day else None
        out = await self.app[TASK_SERVICE].check_in(self.student, self.task_id, "", [], day)
        return out.id

    async def decide(self, checkin_id: str, on: str, decision: str = "approved") -> None:
        self.clock.set(shanghai_noon(on, hour=20))
        await self.app[REVIEW_SERVICE].review(self.teacher, checkin_id, decision, "")

    async def approved(self, *days: str) -> None:
        """Each day checked in and approved that same evening."""
        for day in days:
            await self.decide(await self.check_in(day), day)

    async def summary(self, on: str) -> Any:
        self.clock.set(shanghai_noon(on))
        return (await self.app[SUMMARY_SERVICE].mine(self.student)).model_dump(mode="json")


async def daily_task(
    app: web.Application,
    world: World,
    start: str,
    end: str,
    teacher_id: str | None = None,
    **fields: Any,
) -> str:
    """A task (daily unless ``fields`` say otherwise) for a1, set by its teacher."""
    body = {
        "title": "整理书桌", "category": "daily_life", "class_ids": [world.a1["id"]],
        "start_date": start, "end_date": end, "frequency": "daily", "hours": 0.5,
        "makeup_days": 3, **fields,
    }  # fmt: skip
    teacher = as_principal(teacher_id or world.a.teacher.user_id, Role.teacher)
    task = await app[TASK_SERVICE].create_task(teacher, TaskIn.model_validate(body))
    return task.id


def span(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def badges(summary: Any) -> dict[str, str | None]:
    return {badge["code"]: badge["earned_on"] for badge in summary["badges"]}


async def test_streaks_run_across_month_and_year_ends(
    client: Client, world: World, clock: SettableClock
) -> None:
    days = Days(client.app, clock, world, await daily_task(client.app, world, "2026-11-27",
                                                           "2027-01-15"))  # fmt: skip
    await days.approved(*span("2026-11-28", "2026-12-03"))  # over the end of November
    summary = await days.summary("2026-12-03")
    assert (summary["current_streak"], summary["longest_streak"]) == (6, 6)
    assert badges(summary)["streak_7"] is None
    await days.approved(*span("2026-12-26", "2027-01-03"))  # over the end of the year
    summary = await days.summary("2027-01-03")
    assert (summary["current_streak"], summary["longest_streak"]) == (9, 9)
    # The seventh day in a row was 1 January, approved that evening.
    assert badges(summary)["streak_7"] == "2027-01-01"
    assert badges(summary)["streak_30"] is None
    # Today is not over: nothing yet today keeps yesterday's streak; a missed day ends it.
    assert (await days.summary("2027-01-04"))["current_streak"] == 9
    assert (await days.summary("2027-01-05"))["current_streak"] == 0
    assert (await days.summary("2027-01-05"))["longest_streak"] == 9
    assert summary["approved_count"] == 15 and summary["total_hours"] == 7.5


async def test_a_leap_day_is_a_day_of_the_streak(
    client: Client, world: World, clock: SettableClock
) -> None:
    days = Days(client.app, clock, world, await daily_task(client.app, world, "2028-02-20",
                                                           "2028-03-10"))  # fmt: skip
    await days.approved("2028-02-27", "2028-02-28", "2028-02-29", "2028-03-01", "2028-03-02")
    summary = await days.summary("2028-03-02")
    assert (summary["current_streak"], summary["longest_streak"]) == (5, 5)
    # 2027 has no 29 February: 28 February and 1 March are consecutive there.
    days.task_id = await daily_task(client.app, world, "2027-02-20", "2027-03-10")
    await days.approved("2027-02-27", "2027-02-28", "2027-03-01")
    summary = await days.summary("2027-03-01")
    assert (summary["current_streak"], summary["longest_streak"]) == (3, 5)


async def test_gaps_make_ups_and_a_rejected_day(
    client: Client, world: World, clock: SettableClock
) -> None:
    task_id = await daily_task(client.app, world, "2026-12-01", "2026-12-31", hours=2)
    days = Days(client.app, clock, world, task_id)
    await days.approved("2026-12-01", "2026-12-02", "2026-12-04", "2026-12-05")
    summary = await days.summary("2026-12-05")
    assert (summary["current_streak"], summary["longest_streak"]) == (2, 2)
    # A make-up of the 3rd, made on the 5th and approved on the 6th, fills the gap.
    makeup = await days.check_in("2026-12-05", for_day="2026-12-03")
    summary = await days.summary("2026-12-05")
    assert summary["current_streak"] == 2  # waiting for the teacher counts for nothing
    await days.decide(makeup, "2026-12-06")
    summary = await days.summary("2026-12-06")
    assert (summary["current_streak"], summary["longest_streak"]) == (5, 5)
    assert summary["total_hours"] == 10.0
    assert badges(summary)["hours_10"] == "2026-12-06"  # the fifth approval made it 10
    # The 6th is rejected: on the 7th the streak starts again.
    rejected = await days.check_in("2026-12-06")
    await days.decide(rejected, "2026-12-06", "rejected")
    await days.approved("2026-12-07")
    summary = await days.summary("2026-12-07")
    assert (summary["current_streak"], summary["longest_streak"]) == (1, 5)
    assert summary["approved_count"] == 6
    # Redone as a make-up on the 8th and approved: the run is whole, seven days long,
    # and the badge is earned the day that approval was made.
    redo = await days.check_in("2026-12-08", for_day="2026-12-06")
    await days.approved("2026-12-08")
    assert (await days.summary("2026-12-08"))["current_streak"] == 2
    await days.decide(redo, "2026-12-09")
    summary = await days.summary("2026-12-09")
    assert (summary["current_streak"], summary["longest_streak"]) == (8, 8)
    assert badges(summary)["streak_7"] == "2026-12-09"


async def test_thirty_days_hours_and_categories(
    client: Client, world: World, clock: SettableClock
) -> None:
    days = Days(client.app, clock, world, await daily_task(client.app, world, "2027-01-01",
                                                           "2027-03-31", hours=2))  # fmt: skip
    await days.approved(*span("2027-01-20", "2027-02-20"))  # 32 days, over a month end
    summary = await days.summary("2027-02-20")
    assert (summary["current_streak"], summary["longest_streak"]) == (32, 32)
    earned = badges(summary)
    assert (earned["streak_7"], earned["streak_30"]) == ("2027-01-26", "2027-02-18")
    assert (earned["hours_10"], earned["hours_50"]) == ("2027-01-24", "2027-02-13")
    assert earned["hours_100"] is None
    assert earned["category_daily_life"] == "2027-01-20"
    assert earned["category_service"] is None and earned["all_categories"] is None
    # A weekly productive task and a service task done once: no streak days, but hours,
    # counts and the category badges.
    for category, frequency in (("productive", "weekly"), ("service", "once")):
        days.task_id = await daily_task(
            client.app, world, "2027-02-15", "2027-02-28", category=category,
            frequency=frequency, hours=1.5,
        )  # fmt: skip
        await days.decide(await days.check_in("2027-02-21"), "2027-02-22")
    summary = await days.summary("2027-02-22")
    assert summary["by_category"] == {
        "daily_life": {"hours": 64.0, "count": 32},
        "productive": {"hours": 1.5, "count": 1},
        "service": {"hours": 1.5, "count": 1},
    }
    assert summary["total_hours"] == 67.0 and summary["approved_count"] == 34
    assert summary["current_streak"] == 0  # the 21st had no daily check-in
    earned = badges(summary)
    assert earned["category_productive"] == earned["all_categories"] == "2027-02-22"


async def test_the_summary_routes(client: Client, world: World, clock: SettableClock) -> None:
    task = await make_task(client, world.a.teacher, [world.a1["id"]], makeup_days=1)
    first = await (await check_in(client, world.s1, task["id"], date="2026-12-01")).json()
    await (await check_in(client, world.s1, task["id"])).json()
    await post_ok(client, f"/checkins/{first['id']}/review", world.a.teacher,
                  {"decision": "approved"})  # fmt: skip
    # An edit of the task never rewrites what was credited.
    resp = await client.patch(
        f"{API}/tasks/{task['id']}", json={"hours": 3}, headers=world.a.teacher.headers
    )
    assert resp.status == 200
    mine = await get_ok(client, "/me/labour-summary", world.s1)
    assert (mine["total_hours"], mine["approved_count"], mine["as_of"]) == (0.5, 1, "2026-12-02")
    assert mine["by_category"]["daily_life"] == {"hours": 0.5, "count": 1}
    assert (mine["current_streak"], mine["longest_streak"]) == (1, 1)
    empty = await get_ok(client, "/me/labour-summary", world.s2)
    assert empty["total_hours"] == 0 and all(b["earned_on"] is None for b in empty["badges"])
    # The class's teacher: a page of students, each with what they did in this class.
    page = await get_ok(client, f"/classes/{world.a1['id']}/labour-summary", world.a.teacher)
    assert [(s["student_name"], s["total_hours"]) for s in page["items"]] == [("张一", 0.5)]
    for who, status in ((world.teacher2, 404), (world.b.teacher, 404), (world.s1, 403)):
        resp = await client.get(f"{API}/classes/{world.a1['id']}/labour-summary",
                                headers=who.headers)  # fmt: skip
        assert resp.status == status
    # Moved to another class: the new teacher sees nothing of the old class's check-ins;
    # the student's own summary keeps them.
    await join(client, world.s1, world.b1["join_code"], "张一")
    page = await get_ok(client, f"/classes/{world.b1['id']}/labour-summary", world.b.teacher)
    assert sorted(s["user_id"] for s in page["items"]) == sorted(
        [world.s1.user_id, world.s3.user_id]
    )
    assert {s["total_hours"] for s in page["items"]} == {0.0}
    assert (await get_ok(client, "/me/labour-summary", world.s1))["total_hours"] == 0.5


async def test_a_class_of_fifty_in_one_request(
    client: Client, world: World, clock: SettableClock
) -> None:
    task_id = await daily_task(client.app, world, "2026-11-25", "2026-12-31")
    schools = client.app[SCHOOL_SERVICE]
    guardian = ConsentIn(guardian_name="家长", relationship="father",
                         version=consent.CURRENT_VERSION)  # fmt: skip
    students = [(await sign_in_wechat(client, f"fifty{n}")).user_id for n in range(49)] + [
        world.s1.user_id
    ]
    for n, student_id in enumerate(students[:-1]):
        await schools.join(as_principal(student_id), f"10.1.0.{n}", world.a1["join_code"],
                           f"学生{n:02d}", guardian)  # fmt: skip
    tasks, review = client.app[TASK_SERVICE], client.app[REVIEW_SERVICE]
    teacher = as_principal(world.a.teacher.user_id, Role.teacher)
    # Student n checks in on the last n % 4 days (of 29 November .. 2 December).
    ids = []
    for n, student_id in enumerate(students):
        for back in range(n % 4):
            day = date(2026, 12, 2) - timedelta(days=back)
            clock.set(shanghai_noon(day.isoformat()))
            out = await tasks.check_in(as_principal(student_id), task_id, "", [], None)
            ids.append(out.id)
    await review.review_many(teacher, ids, "approved", "")
    page = await get_ok(client, f"/classes/{world.a1['id']}/labour-summary?limit=50",
                        world.a.teacher)  # fmt: skip
    assert page["next_cursor"] is None and len(page["items"]) == 50
    got = {item["user_id"]: item for item in page["items"]}
    for n, student_id in enumerate(students):
        item = got[student_id]
        assert (item["approved_count"], item["current_streak"]) == (n % 4, n % 4), n
        assert item["total_hours"] == (n % 4) * 0.5
