"""The dashboard (数据看板): charts drawn on the server as SVG (``charts.py``), each
followed by a table of the same numbers.

Each viewer sees the sections their roles open, with the numbers their roles may see,
from the rooms' own services: teachers the check-ins per day and the hours by category
of their classes or their school (``LabourStats``, which answers another school or
class 404), admins any school's; organizers sign-ups and attendance of their events
(admins everyone's, ``EventStats``); editors and reviewers the stories most read this
week (``EngagementService.most_read``). One or two aggregations per chart, the
sections read at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import date, datetime
from typing import Any

from aiohttp import web
from pydantic import Field

from handlers.console.charts import BarRow, Series, horizontal_bars, stacked_columns
from handlers.console.keys import CONSOLE_PAGES
from handlers.events.keys import EVENT_STATS
from handlers.events.stats import EventTally
from handlers.labour.keys import LABOUR_STATS
from handlers.labour.stats import STATUSES, LabourDashboard, LabourScope, ScopeChoice
from handlers.stories.engagement import MostRead
from handlers.stories.keys import ENGAGEMENT_SERVICE
from server.access import current_principal
from server.api import CONSOLE_PREFIX, ApiRoutes
from server.authorisation import Access
from server.clock import SHANGHAI
from server.errors import NotFound
from server.ids import canonical_object_id
from server.keys import CLOCK
from server.principal import Principal, Role, holds_any
from server.rest import ApiQuery, read_query

routes = ApiRoutes(prefix=CONSOLE_PREFIX, tag="console", html=True)

DASHBOARD = CONSOLE_PREFIX + "/dashboard"
LABOUR_ROLES = (Role.teacher,)
EVENT_ROLES = (Role.organizer,)
STORY_ROLES = (Role.editor, Role.reviewer)
VIEWERS = Access.roles(*LABOUR_ROLES, *EVENT_ROLES, *STORY_ROLES)

STATUS_SERIES = {
    "approved": Series("已通过", "#1d6b38"),
    "submitted": Series("待审核", "#b86e00"),
    "rejected": Series("未通过", "#b3261e"),
}
HOURS = Series("时长（小时）", "#1a5fb4")
CONFIRMED = Series("已确认", "#1a5fb4")
ATTENDED = Series("已签到", "#1d6b38")
READS = Series("本周阅读", "#a4161a")
DEMO_MARK = "【示例】"  # in the charts' short labels, not in the tables
EVENT_STATUSES = {
    "published": "未开始",
    "ongoing": "进行中",
    "finished": "已结束",
    "cancelled": "已取消",
}
STORY_STATUSES = {
    "draft": "草稿",
    "in_review": "待审核",
    "scheduled": "已排期",
    "published": "已发布",
    "unpublished": "已下线",
}


class DashboardQuery(ApiQuery):
    scope: str | None = Field(
        default=None,
        max_length=40,
        description="mine (my classes), class:<id> or school:<id>",
    )


def parse_scope(text: str | None) -> LabourScope | None:
    """The scope the form asked for (None: the first one the viewer may see); anything
    but ``mine``, ``class:<id>`` or ``school:<id>`` is not found."""
    if not text:
        return None
    if text == "mine":
        return LabourScope("mine")
    kind, _, raw = text.partition(":")
    object_id = canonical_object_id(raw)
    if object_id is None:
        raise NotFound()
    if kind == "class":
        return LabourScope("class", object_id)
    if kind == "school":
        return LabourScope("school", object_id)
    raise NotFound()


def month_day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _shanghai(when: datetime) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


# -- the sections --------------------------------------------------------------------------


def labour_section(stats: LabourDashboard) -> dict[str, Any]:
    groups: dict[str, list[ScopeChoice]] = {}
    for choice in stats.choices:  # the select's optgroups, in the order they come
        groups.setdefault(choice.group, []).append(choice)
    if stats.scope is None:
        return {"stats": stats, "groups": list(groups.items())}
    totals = {status: sum(day.by_status[status] for day in stats.days) for status in STATUSES}
    total = sum(totals.values())
    busiest = max(stats.days, key=lambda day: day.total)
    span = f"{month_day(stats.first)}至{month_day(stats.last)}"
    summary = (
        f"共 {total} 次，其中已通过 {totals['approved']} 次、待审核 {totals['submitted']} 次、"
        f"未通过 {totals['rejected']} 次"
    )
    if total:
        summary += f"；最多的一天是{month_day(busiest.day)}，{busiest.total} 次"
    last_index = len(stats.days) - 1
    checkins = stacked_columns(
        "chart-checkins",
        title=f"每天的打卡次数（{stats.label}，{span}）",
        desc=f"柱形图，按审核状态分色：{summary}。数值见图下的表格。",
        labels=[f"{d.day.month}/{d.day.day}" for d in stats.days],
        series=[STATUS_SERIES[s] for s in STATUSES],
        values=[[d.by_status[s] for d in stats.days] for s in STATUSES],
        show_label=lambda i: (last_index - i) % 7 == 0,
        legend=False,  # the page's, outside the frame that scrolls on a phone
        tip=lambda i: (
            f"{month_day(stats.days[i].day)}："
            + "，".join(f"{STATUS_SERIES[s].label} {stats.days[i].by_status[s]}" for s in STATUSES)
        ),
    )
    hours_total = round(sum(c.hours for c in stats.categories), 2)
    hours = horizontal_bars(
        "chart-hours",
        title=f"各类劳动的时长（{stats.label}，{span}）",
        desc="条形图，已通过的打卡计入的时长："
        + "，".join(f"{c.label} {c.hours:g} 小时" for c in stats.categories)
        + f"，合计 {hours_total:g} 小时。数值见图下的表格。",
        rows=[BarRow(c.label, [c.hours]) for c in stats.categories],
        series=[HOURS],
        unit=" 小时",
    )
    return {
        "stats": stats,
        "groups": list(groups.items()),
        "span": span,
        "totals": totals,
        "total": total,
        "hours_total": hours_total,
        "checkins_total": sum(c.checkins for c in stats.categories),
        "checkins_chart": checkins,
        "hours_chart": hours,
    }


def event_status(tally: EventTally, now: datetime) -> str:
    if tally.status == "published" and tally.starts_at <= now:
        return EVENT_STATUSES["ongoing"]
    return EVENT_STATUSES.get(tally.status, tally.status)


def events_section(tallies: list[EventTally], now: datetime) -> dict[str, Any]:
    if not tallies:
        return {"tallies": []}
    confirmed = sum(t.confirmed for t in tallies)
    attended = sum(t.attended for t in tallies)
    chart = horizontal_bars(
        "chart-events",
        title=f"各场活动的报名与签到（最近 {len(tallies)} 场）",
        desc=f"条形图，每场活动已确认的报名和已签到的人数：合计已确认 {confirmed} 人，"
        f"已签到 {attended} 人。数值见图下的表格。",
        rows=[
            BarRow(
                f"{t.starts_at.astimezone(SHANGHAI):%m-%d} {t.title.removeprefix(DEMO_MARK)}",
                [t.confirmed, t.attended if t.starts_at <= now else None],
            )
            for t in tallies
        ],
        series=[CONFIRMED, ATTENDED],
        unit=" 人",
        missing="未开始",
    )
    rows = [
        {
            "tally": t,
            "starts": _shanghai(t.starts_at),
            "status": event_status(t, now),
            "rate": f"{t.attendance_rate:.0%}"
            if t.attendance_rate is not None and t.starts_at <= now
            else "—",
        }
        for t in tallies
    ]
    return {"tallies": tallies, "rows": rows, "chart": chart}


def stories_section(first: date, last: date, items: list[MostRead]) -> dict[str, Any]:
    span = f"{month_day(first)}至{month_day(last)}"
    if not items:
        return {"ranked": [], "span": span}
    chart = horizontal_bars(
        "chart-reads",
        title=f"本周阅读最多的稿件（{span}）",
        desc=f"条形图，最近 7 天阅读次数最多的 {len(items)} 篇稿件："
        + "，".join(f"{i.title} {i.views} 次" for i in items[:3])
        + ("等" if len(items) > 3 else "")
        + "。数值见图下的表格。",
        rows=[BarRow(item.title.removeprefix(DEMO_MARK), [item.views]) for item in items],
        series=[READS],
        unit=" 次",
    )
    return {"ranked": items, "span": span, "chart": chart, "statuses": STORY_STATUSES}


async def _none() -> None:
    return None


@routes.get(
    "/dashboard",
    "The dashboard: charts (SVG, each with its table) of what the viewer's roles cover",
    access=VIEWERS,
    errors=("not_found", "invalid_request"),
)
async def dashboard(request: web.Request) -> web.Response:
    query = read_query(request, DashboardQuery)
    scope = parse_scope(query.scope)
    principal: Principal = current_principal(request)
    roles = principal.roles
    app = request.app
    wanted: list[Awaitable[Any]] = [
        app[LABOUR_STATS].dashboard(principal, scope)
        if holds_any(roles, LABOUR_ROLES)
        else _none(),
        app[EVENT_STATS].latest(principal) if holds_any(roles, EVENT_ROLES) else _none(),
        app[ENGAGEMENT_SERVICE].most_read() if holds_any(roles, STORY_ROLES) else _none(),
    ]
    labour, events, stories = await asyncio.gather(*wanted)
    if scope is not None and labour is None:
        raise NotFound()  # a scope of labour numbers asked by someone without them
    now = app[CLOCK].now()
    context = {
        "labour": labour_section(labour) if labour is not None else None,
        "events": events_section(events, now) if events is not None else None,
        "stories": stories_section(*stories) if stories is not None else None,
        "statuses": {s: STATUS_SERIES[s].label for s in STATUSES},
        "status_colors": {s: STATUS_SERIES[s].color for s in STATUSES},
        "month_day": month_day,
    }
    return app[CONSOLE_PAGES].render(request, "dashboard/page.html", context)
