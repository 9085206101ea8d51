"""Phone key rotation: ``python -m server rotate-phone-keys`` re-seals every number under
the first key of PHONE_ENCRYPTION_KEYS, once, and a run stopped midway is finished by
the next."""

from __future__ import annotations

import argparse
import base64
import os

import orjson
import pytest
from aiohttp import web
from pydantic import SecretStr

from config.settings import Settings
from handlers.events import ROOM
from handlers.events.keys import SIGNUP_SERVICE
from handlers.events.phones import PhoneCipher
from server.app import create_app
from server.clock import SettableClock
from server.keys import SIGNER
from tests.events.conftest import create_event, phone_of
from tests.fixtures.app import AiohttpClient, Client
from tests.fixtures.sessions import Session, sign_in_wechat


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def _rotate(app: web.Application, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    (command,) = [c for c in ROOM.commands if c.name == "rotate-phone-keys"]
    await command.run(app, argparse.Namespace(batch=2))
    result: dict[str, object] = orjson.loads(capsys.readouterr().out)
    return result


async def test_rotation_reseals_every_number_once_and_resumes(
    client: Client,
    organizer: Session,
    clock: SettableClock,
    settings: Settings,
    aiohttp_client: AiohttpClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = await create_event(client, organizer, clock, capacity=3)
    ids = []
    for i in range(5):  # 3 confirmed, 2 waitlisted; all sealed under "root"
        user = await sign_in_wechat(client, f"rot{i}")
        resp = await client.post(
            f"/api/v1/events/{event['id']}/signups",
            json={"name": "居民", "phone": phone_of(3000 + i)},
            headers=user.headers,
        )
        ids.append((await resp.json())["id"])
    old = client.app[SIGNUP_SERVICE]
    # The operator puts a new key first (keeping the old one listed) and restarts.
    keys = f"k2:{_key()}"
    rotated_settings = settings.model_copy(update={"phone_encryption_keys": SecretStr(keys)})
    app = create_app(rotated_settings, clock=clock)
    await aiohttp_client(app)
    signups = app[SIGNUP_SERVICE]
    assert signups.phones.current_key_id == "k2"
    # A run that died after the first number: its work stays, the next run does the rest.
    first = await signups.repo.get(ids[0])
    assert first is not None
    fresh = signups.phones.seal(phone_of(3000), ids[0])
    new = {"k": fresh.key_id, "n": fresh.nonce, "c": fresh.ciphertext}
    assert await signups.repo.reseal_phone(first["_id"], first["phone"], new)
    # One number under a key nobody holds any more: left alone, reported.
    lost = PhoneCipher([("gone", os.urandom(32))], app[SIGNER]).seal(phone_of(3004), ids[4])
    doc4 = await signups.repo.get(ids[4])
    assert doc4 is not None
    gone = {"k": lost.key_id, "n": lost.nonce, "c": lost.ciphertext}
    assert await signups.repo.reseal_phone(doc4["_id"], doc4["phone"], gone)

    result = await _rotate(app, capsys)
    assert result == {"key_id": "k2", "rotated": 3, "unreadable": 1, "remaining": 1}
    for i, signup_id in enumerate(ids[:4]):
        doc = await signups.repo.get(signup_id)
        assert doc is not None and doc["phone"]["k"] == "k2"
        assert signups.phone_of(doc) == phone_of(3000 + i)
        assert old.phone_of(doc) is None  # the old settings cannot open it: it moved
        assert doc["phone_masked"] == f"138****{3000 + i}"
    # Again: nothing left to do but the unreadable one.
    again = await _rotate(app, capsys)
    assert again == {"key_id": "k2", "rotated": 0, "unreadable": 1, "remaining": 1}
