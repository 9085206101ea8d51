"""The organizer's Excel export of an event's sign-ups: the one place phone numbers are
shown in full (decrypted here, for this file only), and every export is in the audit log.

One row per sign-up (confirmed, waitlisted, cancelled), in the order they were made, with
Chinese headers; times in Asia/Shanghai. The file is written by ``server/spreadsheet.py``
(formula-safe text, so a name typed as ``=HYPERLINK(...)`` stays text) off the event loop.
The audit log gets one entry per person listed (``event_signups_exported``: who exported,
which event, how many rows; no personal data), so each person's own export shows who
took their number, and one entry without a subject, so an export of nobody is recorded too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from handlers.events.repo import Document
from handlers.events.signups import SignupService
from server.audit import AuditLog
from server.clock import SHANGHAI
from server.spreadsheet import CellValue, workbook_bytes

EXPORT_ACTION = "event_signups_exported"
HEADERS = (
    "序号", "姓名", "手机号", "状态", "候补位次", "报名时间", "确认时间", "签到时间",
    "取消时间", "取消原因",
)  # fmt: skip
STATUS_LABELS = {"confirmed": "已确认", "waitlisted": "候补中", "cancelled": "已取消"}
CANCEL_REASONS = {"user": "本人取消", "event_cancelled": "活动取消", "erased": "账号注销"}
UNREADABLE = "（无法解密）"
"""A number sealed under a key no longer configured (PHONE_ENCRYPTION_KEYS)."""
_NOT_IN_FILENAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass(frozen=True, slots=True)
class Export:
    body: bytes
    filename: str
    rows: int


def _local(instant: datetime | None) -> datetime | None:
    return instant.astimezone(SHANGHAI) if instant is not None else None


def _when(instant: datetime) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


async def export_signups(
    event: Document, signups: SignupService, audit: AuditLog, actor: str
) -> Export:
    docs = await signups.of_event(str(event["_id"]))
    waiting = sorted(
        (doc for doc in docs if doc["status"] == "waitlisted"),
        key=lambda doc: (doc["seq"], doc["_id"]),
    )
    positions = {str(doc["_id"]): place for place, doc in enumerate(waiting, start=1)}
    rows: list[Sequence[CellValue]] = []
    for number, doc in enumerate(docs, start=1):
        phone = signups.phone_of(doc) if doc.get("phone") else ""
        rows.append(
            (
                number,
                doc.get("name") or "（已注销）",
                phone if phone is not None else UNREADABLE,
                STATUS_LABELS.get(doc["status"], doc["status"]),
                positions.get(str(doc["_id"])),
                _local(doc["created_at"]),
                _local(doc.get("confirmed_at")),
                _local(doc.get("attended_at")) if doc["status"] == "confirmed" else None,
                _local(doc.get("cancelled_at")),
                CANCEL_REASONS.get(doc.get("cancel_reason") or "", doc.get("cancel_reason")),
            )
        )
    counts = {status: sum(doc["status"] == status for doc in docs) for status in STATUS_LABELS}
    attended = sum(
        doc["status"] == "confirmed" and doc.get("attended_at") is not None for doc in docs
    )
    now = signups.clock.now()
    address = f"（{event['address']}）" if event.get("address") else ""
    body = await asyncio.to_thread(
        workbook_bytes,
        sheet_title="报名名单",
        title_lines=[
            f"{event['title']} 报名名单",
            f"地点：{event['venue_name']}{address}",
            f"活动时间：{_when(event['starts_at'])} 至 {_when(event['ends_at'])}",
            f"导出时间：{_when(now)}（含完整手机号，请妥善保管，勿外传）",
        ],
        headers=HEADERS,
        rows=rows,
        totals=(
            "合计",
            f"{len(docs)} 人",
            None,
            "，".join(f"{STATUS_LABELS[s]} {n}" for s, n in counts.items()),
            None,
            None,
            None,
            f"已签到 {attended}",
        ),
    )
    details = {"event_id": str(event["_id"]), "rows": len(docs)}
    subjects = list(dict.fromkeys(doc["user_id"] for doc in docs if doc.get("user_id")))
    await audit.record_many(actor, EXPORT_ACTION, [None, *subjects], details)
    title = _NOT_IN_FILENAMES.sub("_", event["title"])[:60]
    filename = f"报名名单-{title}-{now.astimezone(SHANGHAI):%Y%m%d}.xlsx"
    return Export(body, filename, len(docs))
