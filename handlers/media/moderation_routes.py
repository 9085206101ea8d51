"""WeChat's message push (消息推送) endpoint: the URL check (GET) and pushes (POST).

Both are public (WeChat signs them, it cannot sign in): ``server/wechat_push.py``
checks the signature, the clock window and, in safe mode, decrypts.
"""

from __future__ import annotations

from aiohttp import web

from handlers.media.keys import MEDIA_MODERATION
from server.api import ApiRoutes
from server.authorisation import Access
from server.keys import CLOCK

push_routes = ApiRoutes(tag="wechat")


@push_routes.get(
    "/wechat/push",
    "WeChat's check of the push URL: echoes echostr once the signature is right",
    access=Access.public(),
    content_type="text/plain",
    errors=("wechat_push_rejected",),
)
async def verify_push_url(request: web.Request) -> web.Response:
    verifier = request.app[MEDIA_MODERATION].verifier
    echostr = verifier.echo(request.query, request.app[CLOCK].timestamp())
    return web.Response(text=echostr, content_type="text/plain")


@push_routes.post(
    "/wechat/push",
    "A push from WeChat (mediaCheckAsync verdicts), plain or safe mode; answers success",
    access=Access.public(),
    content_type="text/plain",
    errors=("wechat_push_rejected", "not_found", "invalid_request"),
)
async def receive_push(request: web.Request) -> web.Response:
    moderation = request.app[MEDIA_MODERATION]
    raw = await request.read()
    message = moderation.verifier.open(request.query, raw, request.app[CLOCK].timestamp())
    await moderation.receive(message)
    return web.Response(text="success", content_type="text/plain")
