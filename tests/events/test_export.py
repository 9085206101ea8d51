"""The organizer's Excel export: Chinese headers, one row per sign-up, phone numbers in
full (only here), formula-safe text, and every export in the audit log (in each listed
person's own export too)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

from openpyxl import load_workbook

from handlers.events.export import EXPORT_ACTION, HEADERS
from server.clock import SettableClock
from server.keys import AUDIT
from server.spreadsheet import XLSX_CONTENT_TYPE
from tests.events.conftest import create_event, phone_of
from tests.fixtures.app import Client
from tests.fixtures.sessions import Session, sign_in_wechat


def _rows(body: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_the_export_lists_every_sign_up_with_full_numbers_and_is_audited(
    client: Client, organizer: Session, clock: SettableClock
) -> None:
    event = await create_event(client, organizer, clock, capacity=2, title="工匠进社区/第一期")
    names = ["张三", '=HYPERLINK("http://evil")', "王五", "赵六"]
    users = [await sign_in_wechat(client, f"xlsx{i}") for i in range(4)]
    for i, (user, name) in enumerate(zip(users, names, strict=True)):
        resp = await client.post(
            f"/api/v1/events/{event['id']}/signups",
            json={"name": name, "phone": phone_of(2000 + i)},
            headers=user.headers,
        )
        assert resp.status == 201
    first = await client.get("/api/v1/me/signups", headers=users[0].headers)
    ticket = (await first.json())["items"][0]["ticket"]
    checkin = await client.post(
        f"/api/v1/admin/events/{event['id']}/checkin",
        json={"ticket": ticket},
        headers=organizer.headers,
    )
    assert checkin.status == 200
    assert (await client.delete("/api/v1/me", headers=users[3].headers)).status == 202

    resp = await client.get(
        f"/api/v1/admin/events/{event['id']}/signups.xlsx", headers=organizer.headers
    )
    assert resp.status == 200
    assert resp.content_type == XLSX_CONTENT_TYPE
    assert resp.headers["Cache-Control"] == "no-store"
    assert quote("报名名单-工匠进社区_第一期-") in resp.headers["Content-Disposition"]
    rows = _rows(await resp.read())
    assert rows[0][0] == "工匠进社区/第一期 报名名单"
    header_at = rows.index(list(HEADERS))
    body = rows[header_at + 1 : -1]
    assert [row[:5] for row in body] == [
        [1, "张三", phone_of(2000), "已确认", None],
        [2, '\'=HYPERLINK("http://evil")', phone_of(2001), "已确认", None],
        [3, "王五", phone_of(2002), "候补中", 1],
        [4, "（已注销）", None, "已取消", None],
    ]
    assert body[0][7] is not None and body[1][7] is None  # checked in, not yet
    assert body[3][9] == "账号注销"
    assert rows[-1][:2] == ["合计", "4 人"]
    assert rows[-1][7] == "已签到 1"

    # Every listed person's export says who took their number, and when.
    mine = await (await client.get("/api/v1/me/export", headers=users[2].headers)).json()
    exported = [e for e in mine["sections"]["audit"] if e["action"] == EXPORT_ACTION]
    assert len(exported) == 1
    assert exported[0]["actor"] == f"user:{organizer.user_id}"
    assert exported[0]["details"] == {"event_id": event["id"], "rows": 4}
    # And the export itself, even of nobody.
    empty = await create_event(client, organizer, clock)
    resp = await client.get(
        f"/api/v1/admin/events/{empty['id']}/signups.xlsx", headers=organizer.headers
    )
    assert resp.status == 200
    entries = client.app[AUDIT].repo.collection.find({"action": EXPORT_ACTION})
    recorded = [(e["subject_user_id"], e["details"]["event_id"]) async for e in entries]
    assert recorded.count((None, event["id"])) == 1
    assert recorded.count((None, empty["id"])) == 1
    assert len([r for r in recorded if r[1] == event["id"]]) == 4  # 3 people + the export


async def test_the_export_is_declared_as_a_spreadsheet_in_the_openapi_document(
    client: Client,
) -> None:
    document = await (await client.get("/openapi.json")).json()
    answer = document["paths"]["/api/v1/admin/events/{event_id}/signups.xlsx"]["get"]
    content = answer["responses"]["200"]["content"]
    assert content == {XLSX_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}}
