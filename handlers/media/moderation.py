"""Photos other users will see go through WeChat image security (mediaCheckAsync v2).

A public photo of a WeChat user (avatar, event, innovation... every purpose that is not
private) is ``pending`` from its upload: its owner sees it at once (signed URLs, as for
private photos), everyone else only once WeChat's verdict has arrived at our push
endpoint (``moderation_routes.py``) and said ``pass``. ``risky`` hides it everywhere,
its owner included: every list leaves it out and its URLs answer 404, also those
handed out before. ``review`` keeps it pending (no one but its owner sees it).
WeChat fetches the photo itself, through a signed URL of the ``medium`` variant.

Photos of accounts without an openid (staff: story covers, portraits) are not sent:
WeChat checks users' content, and staff content goes through the editorial review.
Without ``WECHAT_PUSH_TOKEN`` no verdict could arrive, so nothing is held.
The state is the media document's ``moderation`` field (absent: never held);
``media_checks`` maps each trace_id to its media and records the verdict once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from handlers.media.repo import MediaCheckRepo, MediaRepo
from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE, NotFound
from server.redis_state import RedisState
from server.wechat import OpenidLookup, Scene, WeChatClient, WeChatUnavailable
from server.wechat_push import PushCipher, PushMessage, PushVerifier

if TYPE_CHECKING:
    from handlers.media.service import MediaService

log = logging.getLogger("jiangxin.media.moderation")

Document = dict[str, Any]
HELD = frozenset({"pending", "review"})
SCENES: dict[str, Scene] = {"avatar": 1}  # 资料; other photos: 4, 社交日志
CHECK_URL_TTL_S = 6 * 3600  # WeChat fetches within minutes; retries for a while
RETRY_AFTER = timedelta(minutes=5)


def needs_signature(doc: Document) -> bool:
    """Held for a verdict: reachable through signed URLs only (given to its owner)."""
    return doc.get("moderation") in HELD


def withheld(doc: Document) -> bool:
    """WeChat said risky: gone for everyone."""
    return doc.get("moderation") == "risky"


def visible_to(doc: Document, viewer_id: str | None) -> bool:
    if withheld(doc):
        return False
    return not needs_signature(doc) or (viewer_id is not None and viewer_id == doc["owner_id"])


class MediaModeration:
    def __init__(
        self,
        settings: Settings,
        repo: MediaRepo,
        checks: MediaCheckRepo,
        media: MediaService,
        wechat: WeChatClient,
        redis: RedisState,
        degrade: Degrade,
        clock: Clock,
    ) -> None:
        self.repo = repo
        self.checks = checks
        self.media = media
        self.wechat = wechat
        self.redis = redis
        self.degrade = degrade
        self.clock = clock
        token = settings.wechat_push_token.get_secret_value()
        aes_key = settings.wechat_push_aes_key.get_secret_value()
        cipher = PushCipher(aes_key, wechat.app_id) if aes_key else None
        self.verifier = PushVerifier(token, cipher, settings.wechat_push_max_skew_s)

    @property
    def enabled(self) -> bool:
        return self.verifier.configured

    async def submit(self, doc: Document, openids: OpenidLookup) -> Document:
        """Hold a newly uploaded public photo of a WeChat user and ask WeChat about it;
        the document as it now is. Once per media, whoever uploads it again."""
        if not self.enabled or doc["visibility"] != "public" or "moderation" in doc:
            return doc
        openid = await openids.openid_of(doc["owner_id"])
        media_id = str(doc["_id"])
        if openid is None:
            return doc
        if not await self.repo.start_moderation(media_id):
            return await self.repo.get(media_id) or doc  # a concurrent upload did it
        await self._ask_wechat(doc, openid)
        return {**doc, "moderation": "pending"}

    async def _ask_wechat(self, doc: Document, openid: str) -> bool:
        """mediaCheckAsync for a held photo; whether WeChat took it."""
        media_id = str(doc["_id"])
        expires = int(self.clock.timestamp()) + CHECK_URL_TTL_S
        url = self.media.url(media_id, "medium", expires)
        try:
            trace_id = await self.wechat.media_check_async(
                url, openid, SCENES.get(doc["purpose"], 4)
            )
        except WeChatUnavailable:
            # It stays held (its owner still sees it); retry_checks asks again later.
            log.warning("media %s: mediaCheckAsync failed; it stays pending", media_id)
            return False
        await self.checks.insert(trace_id, media_id, self.clock.now())
        await self.repo.moderation_asked(media_id)
        return True

    async def retry_checks(self, openids: OpenidLookup, limit: int = 200) -> int:
        """Ask WeChat again about held photos it never took; how many it took now."""
        before = self.clock.now() - RETRY_AFTER
        taken = 0
        for doc in await self.repo.moderation_not_asked(before, limit):
            openid = await openids.openid_of(doc["owner_id"])
            if openid is None:
                continue  # an erased account: its photos go with it
            if not await self._ask_wechat(doc, openid):
                break  # still unreachable: the next run tries again
            taken += 1
        return taken

    async def receive(self, message: PushMessage) -> None:
        """A verified push: apply a ``wxa_media_check`` verdict, once (replays ignored)."""
        body = message.body
        if body.get("Event") != "wxa_media_check":
            return  # other events are not ours to handle (yet)
        if body.get("appid") not in (None, self.wechat.app_id):
            raise NotFound()
        if not await self._first_delivery(message):
            return
        trace_id, result = body.get("trace_id"), body.get("result")
        suggest = result.get("suggest") if isinstance(result, dict) else None
        if not isinstance(trace_id, str) or suggest not in ("pass", "review", "risky"):
            log.warning("media check push without trace_id or suggest; ignored")
            return
        label = result.get("label") if isinstance(result, dict) else 0
        first, media_id = await self.checks.decide(
            trace_id[:128], suggest, label if isinstance(label, int) else 0, self.clock.now()
        )
        if media_id is None:
            raise NotFound()  # not (yet) ours: WeChat retries the push
        if first:
            await self.repo.set_moderation(media_id, suggest)

    async def _first_delivery(self, message: PushMessage) -> bool:
        """False for a push whose nonce was seen within the clock window (a replay)."""
        key = self.redis.key("wechat-push-nonce", message.nonce)
        try:
            ttl_s = 2 * self.verifier.max_skew_s
            return bool(await self.redis.client.set(key, "1", nx=True, ex=ttl_s))
        except REDIS_UNAVAILABLE as exc:
            self.degrade.redis("wechat_push_nonce", exc)
            return True  # trace_id still records a verdict only once
