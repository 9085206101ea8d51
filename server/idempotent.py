"""``Idempotency-Key`` for the POSTs that create things (API.md, "Idempotency")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel

from handlers.idempotency.service import KEY_HEADER, Claim, validate_key
from server.keys import IDEMPOTENCY
from server.rest import JSON_CONTENT_TYPE, json_bytes

Produce = Callable[[], Awaitable[tuple[int, BaseModel]]]


async def respond_idempotently(
    request: web.Request, user_id: str, fingerprint: str, produce: Produce
) -> web.Response:
    """Run ``produce`` once per (user, key, fingerprint); replay its answer on retries.

    ``fingerprint`` identifies the request's content (the same key with another
    fingerprint is 422 ``idempotency_key_reused``). Only successful answers are kept:
    after an error the key is free again, so a corrected retry can succeed.
    """
    key = validate_key(request.headers.get(KEY_HEADER))
    if key is None:
        status, model = await produce()
        return _json(status, json_bytes(model.model_dump(mode="json")))
    service = request.app[IDEMPOTENCY]
    outcome = await service.begin(user_id, key, fingerprint)
    if not isinstance(outcome, Claim):
        response = _json(outcome.status, outcome.body, outcome.content_type)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        status, model = await produce()
    except BaseException:
        await service.release(outcome)
        raise
    body = json_bytes(model.model_dump(mode="json"))
    await service.complete(outcome, status, body, JSON_CONTENT_TYPE)
    return _json(status, body)


def _json(status: int, body: bytes, content_type: str | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=content_type or JSON_CONTENT_TYPE)
