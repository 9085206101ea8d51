"""``DELETE /me`` leaves nothing of the person (idempotency records, school and class
included), and the audit log keeps who did what to whose data, in the person's export
too."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
from PIL import Image

from config.settings import Settings
from handlers.auth.keys import AUTH_SERVICE
from handlers.idempotency.keys import IDEMPOTENCY_SERVICE
from server.keys import AUDIT
from tests.fixtures.app import Client
from tests.fixtures.sessions import Session, create_user, sign_in_wechat


def a_photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, "JPEG")
    return out.getvalue()


async def upload_once(client: Client, session: Session, key: str) -> None:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(a_photo()), filename="a.jpg", content_type="image/jpeg")
    form.add_field("purpose", "avatar")
    resp = await client.post(
        "/api/v1/media", data=form, headers={**session.headers, "Idempotency-Key": key}
    )
    assert resp.status == 201, await resp.text()


async def export(client: Client, session: Session) -> dict[str, Any]:
    resp = await client.get("/api/v1/me/export", headers=session.headers)
    assert resp.status == 200
    sections: dict[str, Any] = (await resp.json())["sections"]
    return sections


async def test_delete_me_erases_idempotency_records_school_and_class(client: Client) -> None:
    session = await sign_in_wechat(client, "olga")
    await client.app[AUTH_SERVICE].users.collection.update_one(
        {"username": {"$regex": "^~"}, "openid": "dev-olga"},
        {"$set": {"school_id": "school-7", "class_id": "class-7-2"}},
    )
    await upload_once(client, session, "tap-once-1")
    other = await sign_in_wechat(client, "pete")
    await upload_once(client, other, "tap-once-1")
    sections = await export(client, session)
    assert sections["idempotency"] == [
        {"key": "tap-once-1", "created_at": sections["idempotency"][0]["created_at"], "status": 201}
    ]
    profile = sections["account"]["profile"]
    assert (profile["school_id"], profile["class_id"]) == ("school-7", "class-7-2")

    assert (await client.delete("/api/v1/me", headers=session.headers)).status == 202
    idempotency = client.app[IDEMPOTENCY_SERVICE]
    assert await idempotency.export_personal_data(session.user_id) == []
    assert len(await idempotency.export_personal_data(other.user_id)) == 1  # theirs stays
    erased = await client.app[AUTH_SERVICE].users.export(session.user_id)
    assert erased is not None
    assert (erased["school_id"], erased["class_id"]) == (None, None)


async def test_audit_log_records_staff_accounts_and_erasures_and_outlives_them(
    client: Client, settings: Settings
) -> None:
    args = ("--username", "auditor1", "--role", "editor")
    assert create_user(settings, *args, password="first-long-passphrase").returncode == 0
    done = create_user(settings, *args, "--update", password="second-long-passphrase")
    assert done.returncode == 0
    login = await client.post(
        "/api/v1/auth/login",
        json={"username": "auditor1", "password": "second-long-passphrase"},
    )
    body = await login.json()
    staff = Session(body["user"]["id"], body["access_token"], body["refresh_token"])
    entries = (await export(client, staff))["audit"]
    assert [e["action"] for e in entries] == ["staff_account_created", "staff_password_reset"]
    for entry in entries:
        assert entry["actor"].startswith("cli:")
        assert entry["subject_user_id"] == staff.user_id
        assert entry["details"] == {"roles": ["editor", "resident"]}
        assert entry["at"]

    assert (await client.delete("/api/v1/me", headers=staff.headers)).status == 202
    kept = await client.app[AUDIT].export_personal_data(staff.user_id)
    actors = {e["action"]: e["actor"] for e in kept}
    assert set(actors) == {"staff_account_created", "staff_password_reset", "account_erased"}
    assert actors["account_erased"] == f"user:{staff.user_id}"
    assert "auditor1" not in str(kept)  # no personal data in the record that stays
