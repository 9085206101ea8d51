"""The media room in the authorisation matrix: photos of an owner (public ones, which
stories, people and avatars may show only if they are the editor's or user's own, and
private check-in photos, reached only through the signed link their owner was given),
uploads, and WeChat's signed message push."""

from __future__ import annotations

import io
import secrets
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from server.wechat_fake import signed_push
from server.wechat_push import push_signature
from tests.fixtures.authorisation import Call, Caller, Case, Obj, World, builds, factory
from tests.media.test_media_api import jpeg_bytes, upload

PHOTO = jpeg_bytes((48, 32), color="navy")


async def _uploaded(world: World, owner: Caller, purpose: str) -> Obj:
    """The owner's photo of ``purpose``, uploaded once per module (never changed)."""
    key = ("photo", owner.user_id, purpose)
    if key not in world.memo:
        resp = await upload(world.client, owner.session, PHOTO, purpose=purpose)
        assert resp.status == 201, await resp.text()
        media = await resp.json()
        link = dict(parse_qsl(urlsplit(media["urls"]["thumb"]).query))
        world.memo[key] = Obj(media["id"], link=link)
    return world.memo[key]


@factory("photo")
async def photo(world: World, owner: Caller, state: str | None) -> Obj:
    """A public photo (``story`` purpose: what stories and people show, and an avatar)."""
    return await _uploaded(world, owner, "story")


@factory("private_photo")
async def private_photo(world: World, owner: Caller, state: str | None) -> Obj:
    """A check-in photo: private, its signed link given to its owner."""
    return await _uploaded(world, owner, "checkin")


@builds("POST", "/api/v1/media")
async def upload_media(case: Case) -> Call:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(PHOTO), filename="p.jpg", content_type="image/jpeg")
    form.add_field("purpose", "story")
    return Call(data=form)


@builds("GET", "/media/{media_id}/{variant}")
async def serve_media(case: Case) -> Call:
    """One's own photo through the link one was given; someone else's by its bare id
    (their link was never given to the caller)."""
    link = case.objects["media_id"].link if case.own("media_id") else None
    return Call(path={"variant": "thumb"}, query=link or {})


@builds("GET", "/api/v1/wechat/push")
async def check_push_url(case: Case) -> Call:
    ts, nonce = str(int(case.world.wechat.now())), secrets.token_hex(5)
    signature = push_signature(case.world.wechat.push_token, ts, nonce)
    return Call(query={"signature": signature, "timestamp": ts, "nonce": nonce, "echostr": "mx"})


@builds("POST", "/api/v1/wechat/push")
async def receive_push(case: Case) -> Call:
    message = {"MsgType": "event", "Event": "matrix_probe", "CreateTime": 0}
    query, raw = signed_push(case.world.wechat, message)
    return Call(data=raw, query=query)
