"""Phone numbers are personal data: in full only in the organizer's Excel export, never
in any other answer (lists, errors, check-ins, exports of one's own data), never in a
log line (the application's logs and the access log)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from aiohttp import web

from config.settings import Settings
from server.app import create_app
from server.clock import SettableClock
from server.principal import Role
from tests.events.conftest import create_event
from tests.fixtures.app import AiohttpClient
from tests.fixtures.sessions import sign_in_staff, sign_in_wechat

PHONES = ("13912345678", "15887654321", "18672904315")


async def test_phone_numbers_never_appear_unmasked_outside_the_export(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: SettableClock,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    app: web.Application = create_app(settings.model_copy(update={"access_log": True}), clock=clock)
    client = await aiohttp_client(app)
    organizer = await sign_in_staff(client, "organizer-privacy", Role.organizer)
    event = await create_event(client, organizer, clock, capacity=2)
    users = [await sign_in_wechat(client, f"privacy{i}") for i in range(3)]
    answers: list[str] = []

    async def call(method: str, path: str, headers: dict[str, str], **kw: object) -> str:
        resp = await client.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
        assert resp.status < 500
        text = await resp.text()
        answers.append(text)
        return text

    signups = f"/api/v1/events/{event['id']}/signups"
    for user, phone in zip(users, PHONES, strict=True):
        spelled = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
        await call("POST", signups, user.headers, json={"name": "居民", "phone": spelled})
    await call("POST", signups, users[0].headers, json={"name": "居民", "phone": PHONES[0]})
    await call("POST", signups, users[0].headers, json={"name": "居民", "phone": "12912345678"})
    mine = await client.get("/api/v1/me/signups", headers=users[0].headers)
    ticket = (await mine.json())["items"][0]["ticket"]
    admin = f"/api/v1/admin/events/{event['id']}"
    await call("POST", admin + "/checkin", organizer.headers, json={"ticket": ticket})
    await call("POST", admin + "/checkin", organizer.headers, json={"ticket": ticket})
    scanned_at = (clock.now() - timedelta(seconds=1)).isoformat()
    scans = {"scans": [{"ticket": ticket, "scanned_at": scanned_at}]}
    await call("POST", admin + "/checkins", organizer.headers, json=scans)
    for status in ("", "?status=confirmed", "?status=waitlisted", "?status=cancelled"):
        await call("GET", admin + "/signups" + status, organizer.headers)
    await call("GET", admin + "/attendance", organizer.headers)
    for user in users:
        await call("GET", "/api/v1/me/signups", user.headers)
        await call("GET", "/api/v1/me/export", user.headers)
    await call("DELETE", f"/api/v1/events/{event['id']}/signups/me", users[1].headers)
    await call("GET", admin + "/signups", organizer.headers)
    assert "****" in answers[0]

    export = await client.get(admin + "/signups.xlsx", headers=organizer.headers)
    assert export.status == 200  # the one place they are in full (test_export.py reads it)
    await client.close()  # the access log is flushed
    written = capfd.readouterr()
    assert "/api/v1/admin/events/" in written.err  # the access log was on
    logged = [record.getMessage() for record in caplog.records]

    for phone in PHONES:
        # No number, whole or as its last 8 digits, where a run of digits ends (not inside
        # a longer one: PyMongo's debug lines carry durations such as 0.0933100000111153).
        tail = re.compile(phone[-8:] + r"(?!\d)")
        assert not any(tail.search(text) for text in answers), phone
        assert not any(tail.search(message) for message in logged), phone
        assert not tail.search(written.err) and not tail.search(written.out), phone
