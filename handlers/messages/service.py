"""The outbox of WeChat subscribe messages (订阅消息): the one way any room tells a
person something (a check-in reviewed, an event tomorrow, a seat from the waitlist,
an event cancelled).

A room calls ``enqueue(Message(key=...))`` after the change it tells of. The key names
the occasion (``checkin_reviewed:<check-in id>``): a message is stored once per key
(the key is the document's ``_id``), so asking twice, from a retry or from two
processes, sends once. Storing it queues the ``send_message`` job for its time on the
job queue; if Redis is away, the worker's minute sweep sends what is due.

Sending claims the message (``pending`` and due, or ``sending`` with its sender's
lease run out), calls ``subscribeMessage.send`` and records what came of it, all
conditional on that claim, so two workers never both send it:
- 0: ``sent``;
- 43101 (the person has not subscribed, or used their one-time subscription):
  ``unsubscribed``, final, never retried;
- WeChat unreachable, or busy (-1, 45009 quotas): ``pending`` again after a backoff
  (30 s, doubling, at most an hour), until the message's ``expires_at`` (a reminder is
  no use after the event): ``expired``;
- any other errcode (a wrong template id, a refused value): ``failed``, logged, kept
  with its errcode for the operator.
A sender that dies between WeChat's answer and its write leaves the message
``sending``; after the lease (60 s) it is sent again. That is the one way a message can
reach WeChat twice; a one-time subscription (the common kind) is used up by the first,
so the second answers 43101 and nobody gets it twice.

Nobody to send to (an account without an openid, or erased): ``no_recipient``. A kind
whose template is not configured: ``disabled`` (stored, not sent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from prometheus_client import Counter

from config.settings import Settings
from handlers.messages.repo import Document, MessageRepo
from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE
from server.jobqueue import JobQueue
from server.metrics import Metrics
from server.wechat import OpenidLookup, WeChatClient, WeChatUnavailable

log = logging.getLogger("jiangxin.messages")

MessageKind = Literal["checkin_reviewed", "event_reminder", "event_promoted", "event_cancelled"]
Outcome = Literal[
    "sent",
    "unsubscribed",
    "retry",
    "expired",
    "failed",
    "no_recipient",
    "not_due",
]

SEND_JOB = "send_message"  # the room's job (handlers/messages/__init__.py)
LEASE = timedelta(seconds=60)
RETRY_FIRST_S = 30
RETRY_MAX_S = 3600
DEFAULT_LIFETIME = timedelta(days=3)
SWEEP_BATCH = 500
# How old a room's ``tell_pending`` mark must be before its sweep queues the message: a
# request still on its way queues it itself (labour reviews, events sign-ups).
TELL_GRACE = timedelta(minutes=1)

_NOT_SUBSCRIBED = 43101
_TRANSIENT_ERRCODES = {-1, 45009, 45011}  # system busy, daily and per-minute quotas


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    """The occasion, unique for ever: ``<kind>:<object id>[:<more>]``."""
    user_id: str
    kind: MessageKind
    page: str
    """The mini-program page a tap opens (``pages/events/detail?id=...``)."""
    data: dict[str, str] = field(default_factory=dict)
    """Template keyword -> value, built with ``handlers.messages.values``."""
    send_at: datetime | None = None
    """None: now."""
    expires_at: datetime | None = None
    """After it, not sent any more; None: three days after ``send_at``."""


class MessageService:
    privacy_section = "messages"

    def __init__(
        self,
        repo: MessageRepo,
        wechat: WeChatClient,
        openids: OpenidLookup,
        jobs: JobQueue,
        settings: Settings,
        degrade: Degrade,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.repo = repo
        self.wechat = wechat
        self.openids = openids
        self.jobs = jobs
        self.settings = settings
        self.degrade = degrade
        self.clock = clock
        self.outcomes = Counter(
            "jiangxin_messages",
            "Subscribe messages by kind and what came of each attempt to send one.",
            ["kind", "outcome"],
            registry=metrics.registry,
        )

    async def enqueue(self, message: Message) -> bool:
        """Store the message and queue its sending; False if its key was queued before
        (it is not sent again)."""
        now = self.clock.now()
        send_at = message.send_at or now
        template_id = self.settings.message_template(message.kind)
        doc: Document = {
            "_id": message.key,
            "user_id": message.user_id,
            "kind": message.kind,
            "template_id": template_id,
            "page": message.page,
            "data": message.data,
            "state": "pending" if template_id else "disabled",
            "attempts": 0,
            "next_at": send_at,
            "expires_at": message.expires_at or send_at + DEFAULT_LIFETIME,
            "created_at": now,
            "updated_at": now,
        }
        if not await self.repo.insert(doc):
            return False
        if template_id:
            await self._schedule(message.key, send_at, 0)
        return True

    async def _schedule(self, message_id: str, when: datetime, attempt: int) -> None:
        try:
            await self.jobs.run_at(SEND_JOB, when, f"message:{message_id}:{attempt}", message_id)
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("schedule_message", exc)  # the minute sweep sends it

    async def get(self, message_id: str) -> Document | None:
        return await self.repo.get(message_id)

    async def send(self, message_id: str) -> Outcome:
        """Send one message if it is due and nobody else is sending it."""
        now = self.clock.now()
        doc = await self.repo.claim(message_id, now, now + LEASE)
        if doc is None:
            return "not_due"  # sent, final, not yet due, or another sender has it
        outcome, changes = await self._attempt(doc, now)
        changes["updated_at"] = now
        if await self.repo.finish(doc, changes):
            self.outcomes.labels(doc["kind"], outcome).inc()
            if outcome == "retry":
                await self._schedule(message_id, changes["next_at"], doc["attempts"])
            elif outcome == "failed":
                log.error(
                    "subscribe message %s (%s) refused by WeChat: errcode %s; not retried",
                    message_id,
                    doc["kind"],
                    changes.get("errcode"),
                )
        return outcome

    async def _attempt(self, doc: Document, now: datetime) -> tuple[Outcome, dict[str, Any]]:
        if doc["expires_at"] <= now:
            return "expired", {"state": "expired"}
        user_id = doc.get("user_id")
        openid = await self.openids.openid_of(user_id) if user_id else None
        if openid is None:
            return "no_recipient", {"state": "no_recipient"}
        try:
            errcode: int | None = await self.wechat.send_subscribe_message(
                openid,
                doc["template_id"],
                doc["page"],
                doc["data"],
                self.settings.wechat_miniprogram_state,
            )
        except WeChatUnavailable:
            errcode = None
        if errcode == 0:
            return "sent", {"state": "sent", "sent_at": now}
        if errcode == _NOT_SUBSCRIBED:
            return "unsubscribed", {"state": "unsubscribed", "errcode": errcode}
        if errcode is None or errcode in _TRANSIENT_ERRCODES:
            delay_s = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (doc["attempts"] - 1))
            next_at = now + timedelta(seconds=delay_s)
            if next_at >= doc["expires_at"]:
                return "expired", {"state": "expired", "errcode": errcode}
            return "retry", {"state": "pending", "next_at": next_at, "errcode": errcode}
        return "failed", {"state": "failed", "errcode": errcode}

    async def sweep(self) -> dict[str, int]:
        """Send what is due and was not sent by its job (every minute on the worker)."""
        outcomes: dict[str, int] = {}
        for message_id in await self.repo.due(self.clock.now(), SWEEP_BATCH):
            outcome = await self.send(message_id)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return outcomes

    # -- personal data (server.privacy) ---------------------------------------------

    async def export_personal_data(self, user_id: str) -> Any:
        return [
            {
                "kind": doc["kind"],
                "state": doc["state"],
                "data": doc["data"],
                "created_at": doc["created_at"].isoformat(),
                "sent_at": doc["sent_at"].isoformat() if doc.get("sent_at") else None,
            }
            for doc in await self.repo.of_user(user_id)
        ]

    async def erase_personal_data(self, user_id: str) -> None:
        await self.repo.erase_user(user_id, self.clock.now())

    async def forget(self, user_id: str, kind: MessageKind) -> None:
        """Erase a person's messages of one kind (a guardian withdrew consent: the
        messages about check-ins go with the check-ins)."""
        await self.repo.erase_user(user_id, self.clock.now(), kind)
