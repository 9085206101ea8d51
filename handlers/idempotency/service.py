"""Idempotency keys: the same key from the same user within 24 h replays the first answer.

A record is claimed (inserted as ``pending``) before the work, completed with the
answer after it, and released if the work fails, so a retry can do it properly. A
concurrent duplicate waits for the first to finish and replays its answer; a record
left pending by a crashed process is taken over after ``pending_timeout``.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from handlers.idempotency.repo import IdempotencyRepo
from server.errors import AppError, Conflict, InvalidRequest

KEY_HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,64}$")


class IdempotencyKeyReused(AppError):
    status = 422
    code = "idempotency_key_reused"
    message = "同一个 Idempotency-Key 不能用于不同的请求"


@dataclass(frozen=True, slots=True)
class Claim:
    record_id: str


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    body: bytes
    content_type: str | None


def validate_key(value: str | None) -> str | None:
    """The header's key, or None when absent; 422 when it is not 1-64 visible characters."""
    if value is None:
        return None
    if not _KEY_RE.match(value):
        raise InvalidRequest.for_fields({KEY_HEADER: "1 to 64 visible ASCII characters"})
    return value


class IdempotencyService:
    def __init__(
        self,
        repo: IdempotencyRepo,
        *,
        ttl: timedelta = timedelta(hours=24),
        pending_timeout: timedelta = timedelta(seconds=120),
        wait_s: float = 60.0,
    ) -> None:
        self.repo = repo
        self.ttl = ttl
        self.pending_timeout = pending_timeout
        self.wait_s = wait_s

    async def begin(self, user_id: str, key: str, fingerprint: str) -> Claim | Replay:
        record_id = f"{user_id}:{key}"
        deadline = time.monotonic() + self.wait_s
        while True:
            now = datetime.now(UTC)
            existing = await self.repo.claim(record_id, fingerprint, now)
            if existing is None:
                return Claim(record_id)
            if not existing:
                continue  # released between our insert and our read: try again
            expired = existing["created_at"] < now - self.ttl
            abandoned = (
                existing["state"] == "pending"
                and existing["claimed_at"] < now - self.pending_timeout
            )
            if expired or abandoned:
                if await self.repo.take_over(record_id, existing["claimed_at"], fingerprint, now):
                    return Claim(record_id)
                continue
            if existing["fingerprint"] != fingerprint:
                raise IdempotencyKeyReused()
            if existing["state"] == "done":
                return Replay(
                    status=int(existing["status"]),
                    body=bytes(existing["body"]),
                    content_type=existing.get("content_type"),
                )
            if time.monotonic() > deadline:
                raise Conflict("同一请求仍在处理中，请稍后重试", code="idempotency_in_progress")
            await asyncio.sleep(0.05)  # the first request with this key is still working

    async def complete(
        self, claim: Claim, status: int, body: bytes, content_type: str | None
    ) -> None:
        await self.repo.complete(claim.record_id, status, body, content_type)

    async def release(self, claim: Claim) -> None:
        await self.repo.release(claim.record_id)

    async def sweep(self) -> int:
        """Delete records past their 24 h; returns how many."""
        return await self.repo.delete_older_than(datetime.now(UTC) - self.ttl)
