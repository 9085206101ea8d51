"""Teachers' views: a task's progress (who has done what, for each period) and the
class report as Excel (``server.spreadsheet``), ready for 综合素质评价.

Both read the check-ins in one query and count in Python. The report counts approved
check-ins made *in this class* (a student who moved brings no hours of their old class,
and takes none of this one's to the report of their new one) for the Asia/Shanghai days
asked, for the students in the class now; its export is written to the audit log, one
entry per student whose data it holds (their export shows who took it).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from handlers.labour.periods import current_period, period_of
from handlers.labour.repo import STUDENTS, Document, SchoolRepo, TaskRepo
from handlers.labour.schemas import (
    MAX_REPORT_DAYS,
    MAX_VIEW_DAYS,
    PeriodTotals,
    ProgressCell,
    ProgressQuery,
    StudentProgress,
    TaskProgressOut,
)
from handlers.labour.schools import SchoolService
from handlers.labour.summary import CATEGORIES, CATEGORY_NAMES
from handlers.labour.tasks import TaskService
from server.audit import AuditLog, user_actor
from server.clock import Clock
from server.errors import InvalidRequest, NotFound
from server.principal import Principal
from server.spreadsheet import workbook_bytes

DEFAULT_VIEW_DAYS = 31
_PROGRESS_FIELDS = ("student_id", "period", "status", "late")
_REPORT_FIELDS = ("student_id", "category", "hours", "credited_hours")


def periods_between(task: Document, first: date, last: date) -> list[str]:
    """The task's periods that days ``first`` to ``last`` fall in, oldest first."""
    periods: list[str] = []
    day = first
    while day <= last:
        period = period_of(task["frequency"], day)
        if not periods or periods[-1] != period:
            periods.append(period)
        day += timedelta(days=1 if task["frequency"] == "daily" else 7 - day.weekday())
        if task["frequency"] == "once":
            break
    return periods


def _check_range(first: date, last: date, most: int) -> None:
    if last < first:
        raise InvalidRequest.for_fields({"to_date": "before from_date"})
    if (last - first).days >= most:
        raise InvalidRequest.for_fields({"to_date": f"at most {most} days after from_date"})


def _centi(doc: Document) -> int:
    hours = doc.get("credited_hours")
    return round(float(doc["hours"] if hours is None else hours) * 100)


class ReportService:
    def __init__(
        self,
        repo: TaskRepo,
        school_repo: SchoolRepo,
        schools: SchoolService,
        tasks: TaskService,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self.repo = repo
        self.school_repo = school_repo
        self.schools = schools
        self.tasks = tasks
        self.audit = audit
        self.clock = clock

    # -- a task's progress ------------------------------------------------------------

    def _window(self, task: Document, query: ProgressQuery) -> tuple[date, date]:
        start, end = date.fromisoformat(task["start_date"]), date.fromisoformat(task["end_date"])
        last = query.to_date or min(max(self.clock.today(), start), end)
        first = query.from_date or max(start, last - timedelta(days=DEFAULT_VIEW_DAYS - 1))
        _check_range(first, last, MAX_VIEW_DAYS)
        return max(first, start), min(last, end)

    async def progress(
        self, principal: Principal, task_id: str, query: ProgressQuery
    ) -> TaskProgressOut:
        """For the caller's task: each period of the window, and for a page of the
        students now in its classes (in ``class_id`` only, if given) their state in
        each; totals per period over all of them."""
        task = await self.tasks.own_task(principal, task_id)
        if query.class_id is not None and query.class_id not in task["class_ids"]:
            raise NotFound(details={"fields": {"class_id": "not a class of this task"}})
        class_ids = [query.class_id] if query.class_id else list(task["class_ids"])
        first, last = self._window(task, query)
        periods = periods_between(task, first, last) if first <= last else []
        position = STUDENTS.decode(query.cursor)
        students = await self.school_repo.roster_page(class_ids, position, query.limit + 1)
        students, next_cursor = STUDENTS.page(students, query.limit)
        roster = set(await self.school_repo.roster_ids(class_ids))
        # The latest check-in of each student and period (a rejected one redone: the redo).
        latest: dict[tuple[str, str], Document] = {}
        for doc in await self.repo.checkins_of_task(task_id, periods, _PROGRESS_FIELDS):
            latest[(doc["student_id"], doc["period"])] = doc
        totals = []
        for period in periods:
            counts = {"approved": 0, "submitted": 0, "rejected": 0}
            for student_id in roster:
                found = latest.get((student_id, period))
                if found is not None:
                    counts[found["status"]] += 1
            totals.append(PeriodTotals(period=period, todo=len(roster) - sum(counts.values()),
                                       **counts))  # fmt: skip
        items = []
        for student in students:
            cells = []
            for period in periods:
                found = latest.get((student["_id"], period))
                cells.append(
                    ProgressCell(
                        period=period,
                        status=found["status"] if found else "todo",
                        checkin_id=str(found["_id"]) if found else None,
                        late=bool(found and found["late"]),
                    )
                )
            items.append(
                StudentProgress(
                    user_id=student["_id"],
                    student_name=student["student_name"],
                    class_id=student["class_id"],
                    done=sum(cell.status in ("submitted", "approved") for cell in cells),
                    cells=cells,
                )
            )
        return TaskProgressOut(
            task=self.tasks.task_out(task, period=current_period(task, self.clock.today())),
            periods=periods,
            totals=totals,
            items=items,
            next_cursor=next_cursor,
        )

    # -- the class report (Excel) ---------------------------------------------------------

    async def class_report(
        self, principal: Principal, class_id: str, first: date, last: date
    ) -> tuple[bytes, str]:
        """The .xlsx of the caller's class for days ``first`` to ``last``, and its file
        name; the export is in the audit log."""
        _check_range(first, last, MAX_REPORT_DAYS)
        klass = await self.schools.own_class(principal, class_id)
        school = await self.school_repo.get_school(klass["school_id"])
        students = sorted(
            await self.school_repo.roster(class_id), key=lambda s: (s["student_name"], s["_id"])
        )
        sums: dict[str, dict[str, list[int]]] = {
            s["_id"]: {c: [0, 0] for c in CATEGORIES} for s in students
        }
        docs = await self.repo.approved_in_class(
            class_id, first.isoformat(), last.isoformat(), _REPORT_FIELDS
        )
        for doc in docs:
            cell = sums.get(doc["student_id"], {}).get(doc["category"])
            if cell is not None:
                cell[0] += _centi(doc)
                cell[1] += 1
        rows: list[list[str | int | float | None]] = []
        totals = {c: [0, 0] for c in CATEGORIES}
        for number, student in enumerate(students, start=1):
            row: list[str | int | float | None] = [number, student["student_name"]]
            for category in CATEGORIES:
                centi, count = sums[student["_id"]][category]
                row += [centi / 100, count]
                totals[category][0] += centi
                totals[category][1] += count
            row += [
                sum(sums[student["_id"]][c][0] for c in CATEGORIES) / 100,
                sum(sums[student["_id"]][c][1] for c in CATEGORIES),
            ]
            rows.append(row)
        total_row: list[str | int | float | None] = [None, "合计"]
        for category in CATEGORIES:
            total_row += [totals[category][0] / 100, totals[category][1]]
        total_row += [
            sum(t[0] for t in totals.values()) / 100,
            sum(t[1] for t in totals.values()),
        ]
        headers = ["序号", "姓名"]
        for category in CATEGORIES:
            headers += [f"{CATEGORY_NAMES[category]}（小时）", f"{CATEGORY_NAMES[category]}（次）"]
        headers += ["合计（小时）", "合计（次）"]
        school_name = school["name"] if school else ""
        title_lines = [
            f"{school_name} {klass['name']} 劳动教育打卡统计",
            f"统计时段：{first.isoformat()} 至 {last.isoformat()}（北京时间）",
            "只计老师审核通过的打卡；时长为审核通过时记入的小时数。",
            f"导出时间：{self.clock.local_now():%Y-%m-%d %H:%M}",
        ]
        body = await asyncio.to_thread(
            workbook_bytes,
            sheet_title="劳动教育打卡统计",
            title_lines=title_lines,
            headers=headers,
            rows=rows,
            totals=total_row,
        )
        await self.audit.record_many(
            user_actor(principal.user_id),
            "labour_report_exported",
            [student["_id"] for student in students],
            {"class_id": class_id, "from": first.isoformat(), "to": last.isoformat()},
        )
        filename = f"{klass['name']}-劳动教育-{first.isoformat()}-{last.isoformat()}.xlsx"
        return body, filename
