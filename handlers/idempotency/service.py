"""Idempotency keys: the same key from the same user within 24 h replays the first answer.

A record is claimed (inserted as ``pending``) before the work, completed with the
answer after it (concurrent requests' claims share one insert, their completions one
write: ``server/batching.py``), and released if the work fails, so a retry can do it
properly. A concurrent duplicate waits for the first to finish and replays its answer; a record
left pending by a crashed process is taken over after ``pending_timeout``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from handlers.idempotency.repo import Document, IdempotencyRepo
from server.batching import Batcher
from server.clock import Clock
from server.errors import AppError, Conflict
from server.idempotent import Claim, Replay


class IdempotencyKeyReused(AppError):
    status = 422
    code = "idempotency_key_reused"
    message = "同一个 Idempotency-Key 不能用于不同的请求"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    message = "同一请求仍在处理中，请稍后重试"


class IdempotencyService:
    privacy_section = "idempotency"

    def __init__(
        self,
        repo: IdempotencyRepo,
        clock: Clock,
        *,
        ttl: timedelta = timedelta(hours=24),
        pending_timeout: timedelta = timedelta(seconds=120),
        wait_s: float = 60.0,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.ttl = ttl
        self.pending_timeout = pending_timeout
        self.wait_s = wait_s
        # Group commit (server/batching.py): concurrent requests' records claimed by one
        # insert and completed by one write.
        self._claims: Batcher[tuple[str, str, datetime], Document | None] = Batcher(repo.claim_many)
        self._completes: Batcher[tuple[str, int, bytes, str | None], None] = Batcher(
            repo.complete_many
        )

    async def begin(self, user_id: str, key: str, fingerprint: str) -> Claim | Replay:
        record_id = f"{user_id}:{key}"
        # How long to wait for a duplicate in progress: a timeout, so on the loop's own
        # clock (a test's clock that stands still must not make it wait forever).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while True:
            now = self.clock.now()
            existing = await self._claims.submit((record_id, fingerprint, now))
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
            if loop.time() > deadline:
                raise IdempotencyInProgress()
            await asyncio.sleep(0.05)  # the first request with this key is still working

    async def complete(
        self, claim: Claim, status: int, body: bytes, content_type: str | None
    ) -> None:
        await self._completes.submit((claim.record_id, status, body, content_type))

    async def release(self, claim: Claim) -> None:
        await self.repo.release(claim.record_id)

    # -- personal data (server.privacy): the answers replayed are the user's own ------

    async def export_personal_data(self, user_id: str) -> Any:
        """The keys used in the last 24 h (the answers kept are in the other sections)."""
        prefix = f"{user_id}:"
        return [
            {
                "key": doc["_id"].removeprefix(prefix),
                "created_at": doc["created_at"].isoformat(),
                "status": doc.get("status"),
            }
            for doc in await self.repo.of_user(user_id)
        ]

    async def erase_personal_data(self, user_id: str) -> None:
        await self.repo.delete_for_user(user_id)

    async def sweep(self) -> int:
        """Delete records past their 24 h; returns how many."""
        return await self.repo.delete_older_than(self.clock.now() - self.ttl)
