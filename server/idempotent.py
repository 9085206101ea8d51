"""``Idempotency-Key`` for the POSTs that create things (API.md, "Idempotency").

The protocol is here; the records are kept by the idempotency room (``app[IDEMPOTENCY]``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from pydantic import BaseModel

from server.errors import InvalidRequest
from server.rest import JSON_CONTENT_TYPE, json_bytes

KEY_HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"[\x21-\x7e]{1,64}")

Produce = Callable[[], Awaitable[tuple[int, BaseModel]]]


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds the key: do the work, then ``complete`` or ``release``."""

    record_id: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was used for this request before: answer what was answered then."""

    status: int
    body: bytes
    content_type: str | None


class IdempotencyStore(Protocol):
    async def begin(self, user_id: str, key: str, fingerprint: str) -> Claim | Replay: ...

    async def complete(
        self, claim: Claim, status: int, body: bytes, content_type: str | None
    ) -> None: ...

    async def release(self, claim: Claim) -> None: ...


def validate_key(value: str | None) -> str | None:
    """The header's key, or None when absent; 422 when it is not 1-64 visible characters."""
    if value is None:
        return None
    if not _KEY_RE.fullmatch(value):
        raise InvalidRequest.for_fields({KEY_HEADER: "1 to 64 visible ASCII characters"})
    return value


async def respond_idempotently(
    request: web.Request,
    store: IdempotencyStore,
    user_id: str,
    fingerprint: str,
    produce: Produce,
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
    outcome = await store.begin(user_id, key, fingerprint)
    if not isinstance(outcome, Claim):
        response = _json(outcome.status, outcome.body, outcome.content_type)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        status, model = await produce()
    except BaseException:
        await store.release(outcome)
        raise
    body = json_bytes(model.model_dump(mode="json"))
    await store.complete(outcome, status, body, JSON_CONTENT_TYPE)
    return _json(status, body)


def _json(status: int, body: bytes, content_type: str | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=content_type or JSON_CONTENT_TYPE)
