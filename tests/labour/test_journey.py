"""Issue 10's "Done when", walked end to end over the HTTP API against the real services:
an admin sets up a school and its teacher, the teacher a class and a daily task; five
students join with a guardian's consent (the text fetched first, as the mini-program
does) and check in with photos over seven days of the test clock (some skip a day, one
makes a day up late, one never checks in); the teacher reviews the week in bulk (one
check-in rejected with a comment); the outbox tells each student of each decision;
their summaries, streaks and badges, the class report in Excel and the audit log show
what the week was worth.

Every number expected below is worked out by hand from the plan of the week, not by
the code under test. The messages are drained by the worker's minute sweep
(``sweep_messages``), as the other labour tests do: the queued jobs would run on arq's
real clock, not the test's.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from openpyxl import load_workbook

from handlers.messages import sweep_messages
from server.clock import SettableClock
from server.principal import Role
from server.spreadsheet import XLSX_CONTENT_TYPE
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_staff, sign_in_wechat
from tests.fixtures.wechat import FakeWeChat
from tests.labour.conftest import API, get_ok, post_ok, refreshed, shanghai_noon
from tests.labour.test_checkins import check_in
from tests.labour.test_duplicates import jpeg, photo
from tests.labour.test_reports import cells
from tests.labour.test_summary import badges, span
from tests.media.test_media_api import upload

WEEK = span("2026-11-30", "2026-12-06")  # Monday to Sunday, over the end of November
MON, TUE, WED, THU, FRI, SAT, SUN = WEEK
APPROVED_COMMENT = "很棒，继续坚持！"
REJECTED_COMMENT = "照片里看不到整理好的房间，请补拍"
REVIEWED_AT = "2026年12月06日 20:00"  # Sunday evening, Shanghai time


@dataclass
class Student:
    code: str  # the WeChat dev code: openid dev-<code>
    name: str  # the real name given when joining
    daily: list[str]  # days checked in on time to the daily task
    makeups: dict[str, str]  # day made up -> the day the make-up was made
    service_on: str | None  # the day the once-off service task was done
    session: Session | None = None


# The week's plan. Rejected: 陈小丽's check-in of Friday.
PLAN = [
    Student("xiaoming", "王小明", WEEK, {}, WED),  # every day: the 7-day badge
    Student("xiaohong", "李小红", [MON, TUE, WED, FRI, SAT, SUN], {}, None),  # skips Thursday
    Student("xiaogang", "张小刚", [TUE, WED, THU, SAT, SUN], {FRI: SAT}, None),  # Friday late
    Student("xiaoli", "陈小丽", WEEK, {}, THU),
    Student("xiaojun", "赵小军", [], {}, None),  # joined, never checked in
]


class Week:
    """The people of the journey, each day's clock, and the check-ins made."""

    def __init__(self, client: Client, clock: SettableClock) -> None:
        self.client, self.clock = client, clock
        self.sessions: list[Session] = []
        self.checkins: dict[str, list[dict[str, Any]]] = {s.code: [] for s in PLAN}
        self.scene = 0

    def at(self, day: str, hour: int) -> None:
        self.clock.set(shanghai_noon(day, hour=hour))

    async def new_day(self, day: str, hour: int = 19) -> None:
        """The clock on ``day`` at ``hour``; everyone's app refreshed its token (the last
        day's has long expired)."""
        self.at(day, hour)
        for session in self.sessions:
            await refreshed(self.client, session)

    async def photo(self, student: Session) -> str:
        """A photo of a scene of its own (no two students' alike: none is flagged as a
        duplicate), uploaded for a check-in."""
        self.scene += 1
        data = jpeg(photo(self.scene, width=240, height=320))
        resp = await upload(self.client, student, data, purpose="checkin")
        assert resp.status == 201, await resp.text()
        media_id: str = (await resp.json())["id"]
        return media_id

    async def check_in(
        self, student: Student, task_id: str, note: str, for_day: str | None = None
    ) -> dict[str, Any]:
        assert student.session is not None
        body: dict[str, Any] = {"note": note, "media_ids": [await self.photo(student.session)]}
        if for_day is not None:
            body["date"] = for_day
        resp = await check_in(self.client, student.session, task_id, **body)
        assert resp.status == 201, await resp.text()
        made: dict[str, Any] = await resp.json()
        assert (made["status"], made["flags"], len(made["photos"])) == ("submitted", [], 1)
        self.checkins[student.code].append(made)
        return made


async def test_a_class_s_week_of_labour_from_the_join_code_to_the_excel_report(
    client: Client, clock: SettableClock, fake_wechat: FakeWeChat
) -> None:
    week = Week(client, clock)
    # -- Sunday before: the admin sets up the school, the teacher the class and tasks. --
    week.at("2026-11-29", 10)
    admin = await sign_in_staff(client, "journey_admin", Role.admin)
    school = await post_ok(
        client, "/admin/schools", admin, {"name": "株洲市实验小学", "district": "天元区"}, 201
    )
    teacher = await sign_in_staff(client, "journey_teacher", Role.teacher)
    attached = await post_ok(
        client, f"/admin/schools/{school['id']}/teachers", admin, {"user_id": teacher.user_id}
    )
    assert attached == {"user_id": teacher.user_id, "school_id": school["id"]}
    klass = await post_ok(
        client, "/classes", teacher,
        {"school_id": school["id"], "name": "四年级（2）班", "grade": 4}, 201,
    )  # fmt: skip
    assert (klass["school_id"], klass["student_count"]) == (school["id"], 0)
    assert klass["join_code"]
    daily = await post_ok(
        client, "/tasks", teacher,
        {
            "title": "整理自己的房间", "description": "叠被子、收拾书桌，拍一张整理好的照片。",
            "category": "daily_life", "class_ids": [klass["id"]], "start_date": MON,
            "end_date": "2026-12-31", "frequency": "daily", "hours": 0.5,
            "photo_required": True, "makeup_days": 2,
        },
        201,
    )  # fmt: skip
    service = await post_ok(
        client, "/tasks", teacher,
        {
            "title": "打扫楼道", "category": "service", "class_ids": [klass["id"]],
            "start_date": MON, "end_date": SUN, "frequency": "once", "hours": 1.5,
            "photo_required": True,
        },
        201,
    )  # fmt: skip
    week.sessions += [admin, teacher]

    # -- The students join: the consent text first, then the code with the guardian's. --
    resp = await client.get(API + "/consent/guardian")  # public: before any sign-in
    assert resp.status == 200, await resp.text()
    text = await resp.json()
    assert text["title"] == "劳动教育打卡 监护人同意书" and "监护人" in text["text"]
    for student in PLAN:
        student.session = await sign_in_wechat(client, student.code)
        week.sessions.append(student.session)
        if student.code == "xiaojun":  # tapped on without the guardian's consent first
            resp = await client.post(
                API + "/classes/join",
                json={"join_code": klass["join_code"], "student_name": student.name},
                headers=student.session.headers,
            )
            assert resp.status == 422
            assert_error(await resp.json(), "guardian_consent_required")
        consent = {"guardian_name": student.name[0] + "家长", "relationship": "mother",
                   "version": text["version"]}  # fmt: skip
        me = await post_ok(
            client, "/classes/join", student.session,
            {"join_code": klass["join_code"], "student_name": student.name,
             "guardian_consent": consent},
        )  # fmt: skip
        assert (me["class_id"], me["school_id"]) == (klass["id"], school["id"])
        assert "student" in me["roles"]
    assert (await get_ok(client, f"/classes/{klass['id']}", teacher))["student_count"] == 5
    roster = await get_ok(client, f"/classes/{klass['id']}/students?limit=50", teacher)
    assert sorted(s["student_name"] for s in roster["items"]) == sorted(s.name for s in PLAN)

    # -- Seven days of check-ins. --
    first = PLAN[0]
    assert first.session is not None
    for day in WEEK:
        await week.new_day(day)
        if day == MON:
            # What the student sees: today's task to do; without a photo it is not taken.
            tasks = await get_ok(client, "/tasks", first.session)
            mine = {t["id"]: (t["my_status"], t["period"]) for t in tasks["items"]}
            assert mine == {daily["id"]: ("todo", MON), service["id"]: ("todo", "once")}
            resp = await check_in(client, first.session, daily["id"], note="忘了拍照")
            assert resp.status == 422
            assert_error(await resp.json(), "photo_required")
        for student in PLAN:
            if day in student.daily:
                made = await week.check_in(student, daily["id"], f"{day} 整理了房间")
                assert (made["period"], made["late"]) == (day, False)
            for missed, made_on in student.makeups.items():
                if made_on == day:  # 补卡: an earlier day's, made today, late
                    made = await week.check_in(student, daily["id"], "补卡", for_day=missed)
                    assert (made["period"], made["late"]) == (missed, True)
            if student.service_on == day:
                made = await week.check_in(student, service["id"], "和邻居一起扫了楼道")
                assert (made["period"], made["late"]) == ("once", False)
        if day == MON:
            tasks = await get_ok(client, "/tasks", first.session)
            assert {t["id"]: t["my_status"] for t in tasks["items"]}[daily["id"]] == "submitted"

    # -- Sunday evening: the teacher reviews the week's check-ins in bulk. --
    await week.new_day(SUN, hour=20)
    made_ids = {c["id"] for made in week.checkins.values() for c in made}
    assert len(made_ids) == 8 + 6 + 6 + 8  # 王小明, 李小红, 张小刚, 陈小丽
    pending = await all_pages(
        client, f"/teacher/checkins?status=submitted&class_id={klass['id']}&limit=20", teacher
    )
    assert {c["id"] for c in pending} == made_ids
    names = {s.session.user_id: s.name for s in PLAN if s.session}
    assert all(c["student_name"] == names[c["student_id"]] for c in pending)
    assert all(c["flags"] == [] and c["duplicate_of"] is None for c in pending)
    # The teacher looks at a photo through the URL the list gave (signed: private).
    thumb = urlsplit(pending[0]["photos"][0]["urls"]["thumb"])
    assert (await client.get(f"{thumb.path}?{thumb.query}")).status == 200
    rejected = next(c for c in week.checkins["xiaoli"] if c["period"] == FRI)
    approve = [c["id"] for c in pending if c["id"] != rejected["id"]]
    decided = await post_ok(
        client, "/checkins/review", teacher,
        {"ids": approve, "decision": "approved", "comment": APPROVED_COMMENT},
    )  # fmt: skip
    assert decided["results"] == [{"id": i, "status": "approved", "error": None} for i in approve]
    no = await post_ok(
        client, f"/checkins/{rejected['id']}/review", teacher,
        {"decision": "rejected", "comment": REJECTED_COMMENT},
    )  # fmt: skip
    assert (no["status"], no["review"]["comment"]) == ("rejected", REJECTED_COMMENT)
    left = await get_ok(client, f"/teacher/checkins?status=submitted&class_id={klass['id']}",
                        teacher)  # fmt: skip
    assert left["items"] == []

    # -- The students' messages: one per check-in decided, saying how it went. --
    assert await sweep_messages(client.app) == {"sent": 28}
    assert await sweep_messages(client.app) == {}  # nothing is sent twice
    titles = {daily["id"]: "整理自己的房间", service["id"]: "打扫楼道"}
    task_of = {c["id"]: c["task_id"] for made in week.checkins.values() for c in made}
    told: dict[str, Counter[str]] = {f"dev-{s.code}": Counter() for s in PLAN}
    for message in fake_wechat.state.messages:
        checkin_id = message["page"].removeprefix("pages/labour/checkin?id=")
        told[message["touser"]][checkin_id] += 1
        no_pass = checkin_id == rejected["id"]
        assert {key: value["value"] for key, value in message["data"].items()} == {
            "thing1": titles[task_of[checkin_id]],
            "phrase2": "未通过" if no_pass else "通过",
            "thing3": REJECTED_COMMENT if no_pass else APPROVED_COMMENT,
            "time4": REVIEWED_AT,
        }, message
    for student in PLAN:
        ids = {c["id"] for c in week.checkins[student.code]}
        assert told[f"dev-{student.code}"] == Counter(dict.fromkeys(ids, 1)), student.name
    # The rejected one, as its message's link opens it.
    xiaoli = PLAN[3].session
    assert xiaoli is not None
    seen = await get_ok(client, f"/checkins/{rejected['id']}", xiaoli)
    assert (seen["status"], seen["review"]["comment"]) == ("rejected", REJECTED_COMMENT)

    # -- Each student's summary, streaks and badges. --
    expected = {
        # code: total hours, approved, daily (hours, count), service (hours, count),
        #       current streak, longest streak, badges earned
        "xiaoming": (5.0, 8, (3.5, 7), (1.5, 1), 7, 7,
                     {"streak_7", "category_daily_life", "category_service"}),
        "xiaohong": (3.0, 6, (3.0, 6), (0.0, 0), 3, 3, {"category_daily_life"}),
        # Friday made up on Saturday fills the gap: Tuesday to Sunday.
        "xiaogang": (3.0, 6, (3.0, 6), (0.0, 0), 6, 6, {"category_daily_life"}),
        # Friday rejected: Monday-Thursday, then Saturday-Sunday.
        "xiaoli": (4.5, 7, (3.0, 6), (1.5, 1), 2, 4, {"category_daily_life", "category_service"}),
        "xiaojun": (0.0, 0, (0.0, 0), (0.0, 0), 0, 0, set()),
    }  # fmt: skip
    for student in PLAN:
        assert student.session is not None
        summary = await get_ok(client, "/me/labour-summary", student.session)
        total, count, daily_sum, service_sum, current, longest, earned = expected[student.code]
        assert (summary["total_hours"], summary["approved_count"]) == (total, count), student.name
        assert summary["by_category"] == {
            "daily_life": {"hours": daily_sum[0], "count": daily_sum[1]},
            "productive": {"hours": 0.0, "count": 0},
            "service": {"hours": service_sum[0], "count": service_sum[1]},
        }, student.name
        assert (summary["current_streak"], summary["longest_streak"]) == (current, longest)
        assert summary["as_of"] == SUN
        # Every badge earned was earned on Sunday, the day of the approvals.
        assert badges(summary) == {
            code: (SUN if code in earned else None) for code in badges(summary)
        }, student.name
    # The teacher's view of the class agrees.
    page = await get_ok(client, f"/classes/{klass['id']}/labour-summary?limit=50", teacher)
    by_name = {s["student_name"]: s["total_hours"] for s in page["items"]}
    assert by_name == {s.name: expected[s.code][0] for s in PLAN}

    # -- Monday morning: the class report for the week, in Excel. --
    await week.new_day("2026-12-07", hour=8)
    resp = await client.get(
        f"{API}/classes/{klass['id']}/report.xlsx?from_date={MON}&to_date={SUN}",
        headers=teacher.headers,
    )
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == XLSX_CONTENT_TYPE
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    rows = cells(sheet)
    assert rows[0][0] == "株洲市实验小学 四年级（2）班 劳动教育打卡统计"
    assert f"{MON} 至 {SUN}" in rows[1][0]
    header = rows.index(next(r for r in rows if r[0] == "序号"))
    assert rows[header] == [
        "序号", "姓名", "日常生活劳动（小时）", "日常生活劳动（次）", "生产劳动（小时）",
        "生产劳动（次）", "服务性劳动（小时）", "服务性劳动（次）", "合计（小时）", "合计（次）",
    ]  # fmt: skip
    by_student: dict[str, list[float]] = {
        "王小明": [3.5, 7, 0, 0, 1.5, 1, 5, 8],
        "李小红": [3, 6, 0, 0, 0, 0, 3, 6],
        "张小刚": [3, 6, 0, 0, 0, 0, 3, 6],
        "陈小丽": [3, 6, 0, 0, 1.5, 1, 4.5, 7],
        "赵小军": [0, 0, 0, 0, 0, 0, 0, 0],
    }
    assert rows[header + 1 :] == [
        [number, name, *by_student[name]] for number, name in enumerate(sorted(by_student), start=1)
    ] + [[None, "合计", 12.5, 25, 0, 0, 3, 2, 15.5, 27]]

    # -- The export is in the audit log: each student's own export shows who took it. --
    for student in PLAN:
        assert student.session is not None
        exported = await get_ok(client, "/me/export", student.session)
        entries = [e for e in exported["sections"]["audit"]
                   if e["action"] == "labour_report_exported"]  # fmt: skip
        assert len(entries) == 1, student.name
        assert entries[0]["actor"] == f"user:{teacher.user_id}"
        assert entries[0]["details"] == {"class_id": klass["id"], "from": MON, "to": SUN}
        # And what their guardian agreed to, on the Sunday before, is on record.
        [given] = exported["sections"]["labour_classes"]["guardian_consents"]
        assert (given["version"], given["text_sha256"]) == (text["version"], text["sha256"])
        assert (given["class_id"], given["withdrawn_at"]) == (klass["id"], None)


async def all_pages(client: Client, path: str, who: Session) -> list[dict[str, Any]]:
    """Every item of a paged list, following its cursors as the mini-program does."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await get_ok(client, path + (f"&cursor={cursor}" if cursor else ""), who)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
