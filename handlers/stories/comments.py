"""Comments on stories, through WeChat text security (msgSecCheck v2).

``result.suggest``: ``pass`` -> approved at once; ``review`` -> pending, for a reviewer;
``risky`` -> 422 ``content_rejected`` and nothing is stored. Accounts without a WeChat
openid (staff) cannot be checked by WeChat, so theirs wait for a reviewer too; so does
a comment WeChat could not check (unreachable, or refusing the call: 40003, 61010,
43104...): the user's words are kept, ``suggest`` is ``unchecked``. Only approved
comments are public and counted in ``stats.comments``.

Four eyes, as for stories: nobody moderates their own comment (a reviewer's comment
waits for another reviewer, 403 ``four_eyes_required``).
"""

from __future__ import annotations

from typing import Any, Literal

from handlers.auth.service import AuthService
from handlers.stories.engagement import EngagementService
from handlers.stories.feed import FeedService
from handlers.stories.repo import COMMENTS, MODERATION, CommentRepo, Document
from handlers.stories.schemas import CommentAuthor, CommentOut, CommentPage
from server.clock import Clock
from server.errors import Forbidden, InvalidRequest, NotFound, RateLimited
from server.paging import PageQuery
from server.principal import Principal
from server.redis_state import RateLimiter
from server.wechat import ContentRejected, WeChatClient, WeChatUnavailable

COMMENTS_PER_MINUTE = 5
MODERATE_MANY_MAX = 50  # a page of the queue

ModerationOutcome = Literal["moderated", "already_decided", "four_eyes_required", "not_found"]


class OwnCommentModeration(Forbidden):
    code = "four_eyes_required"
    message = "不能审核自己发表的评论，请由其他审核员处理"


__all__ = [
    "COMMENTS_PER_MINUTE",
    "CommentService",
    "ContentRejected",
    "ModerationOutcome",
    "OwnCommentModeration",
]


class CommentService:
    privacy_section = "comments"

    def __init__(
        self,
        repo: CommentRepo,
        feed: FeedService,
        engagement: EngagementService,
        auth: AuthService,
        wechat: WeChatClient,
        rate_limiter: RateLimiter,
        clock: Clock,
    ) -> None:
        self.repo = repo
        self.feed = feed
        self.engagement = engagement
        self.auth = auth
        self.wechat = wechat
        self.rate_limiter = rate_limiter
        self.clock = clock

    async def post(self, principal: Principal, story_id: str, text: str) -> CommentOut:
        await self.feed.get_public(story_id)
        wait_s = await self.rate_limiter.hit(
            f"comment:{principal.user_id}", COMMENTS_PER_MINUTE, 60
        )
        if wait_s is not None:
            raise RateLimited(wait_s, "评论太频繁，请稍后再试")
        user = await self.auth.get_user(principal.user_id)
        if user.openid is None:
            suggest, label = "review", 0
        else:
            try:
                check = await self.wechat.msg_sec_check(text, user.openid, scene=2)
                suggest, label = check.suggest, check.label
            except WeChatUnavailable:
                suggest, label = "unchecked", 0  # a reviewer decides instead
        if suggest == "risky":
            raise ContentRejected(details={"label": label})
        status = "approved" if suggest == "pass" else "pending"
        doc = await self.repo.insert(
            {
                "story_id": story_id,
                "user_id": principal.user_id,
                "text": text,
                "status": status,
                "suggest": suggest,
                "label": label,
                "created_at": self.clock.now(),
            }
        )
        if status == "approved":
            await self.engagement.count_comments(story_id, 1)
            await self.engagement.recent_writes.stamp(principal.user_id)  # its count moved
        return (await self.outs([doc]))[0]

    async def public_page(self, story_id: str, query: PageQuery) -> CommentPage:
        """A public story's approved comments, newest first."""
        position = COMMENTS.decode(query.cursor)
        await self.feed.get_public(story_id)
        docs = await self.repo.approved_page(story_id, position, query.limit + 1)
        docs, next_cursor = COMMENTS.page(docs, query.limit)
        return CommentPage(items=await self.outs(docs), next_cursor=next_cursor)

    async def pending_page(self, query: PageQuery) -> CommentPage:
        """The moderation queue, oldest first."""
        position = MODERATION.decode(query.cursor)
        docs = await self.repo.pending_page(position, query.limit + 1)
        docs, next_cursor = MODERATION.page(docs, query.limit)
        return CommentPage(items=await self.outs(docs), next_cursor=next_cursor)

    async def moderate(self, principal: Principal, comment_id: str, approve: bool) -> CommentOut:
        """Approve or reject a pending comment (someone else's); the first decision stands."""
        doc, _decided_now = await self._decide(principal, comment_id, approve)
        return (await self.outs([doc]))[0]

    async def moderate_many(
        self, principal: Principal, comment_ids: list[str], approve: bool
    ) -> dict[str, ModerationOutcome]:
        """``moderate`` for each of ``comment_ids`` (at most ``MODERATE_MANY_MAX``): what
        became of each, by id; one refused (the caller's own, or gone) stops no other."""
        unique = list(dict.fromkeys(comment_ids))
        if not unique or len(unique) > MODERATE_MANY_MAX:
            raise InvalidRequest.for_fields({"ids": f"1 to {MODERATE_MANY_MAX} comments"})
        outcomes: dict[str, ModerationOutcome] = {}
        for comment_id in unique:
            try:
                _doc, decided_now = await self._decide(principal, comment_id, approve)
            except OwnCommentModeration:
                outcomes[comment_id] = "four_eyes_required"
            except NotFound:
                outcomes[comment_id] = "not_found"
            else:
                outcomes[comment_id] = "moderated" if decided_now else "already_decided"
        return outcomes

    async def _decide(
        self, principal: Principal, comment_id: str, approve: bool
    ) -> tuple[Document, bool]:
        """The comment once decided, and whether this call decided it."""
        decision = "approved" if approve else "rejected"
        doc = await self.repo.moderate(comment_id, decision, principal.user_id, self.clock.now())
        if doc is None:
            existing = await self.repo.get(comment_id)
            if existing is None:
                raise NotFound()
            if existing["user_id"] == principal.user_id:
                raise OwnCommentModeration()
            return existing, False  # already decided: the first decision stands
        if approve:
            await self.engagement.count_comments(doc["story_id"], 1)
        return doc, True

    async def outs(self, docs: list[Document]) -> list[CommentOut]:
        """``CommentOut`` of each of ``docs``, their authors' names read in one query."""
        names = await self.auth.display_names([doc["user_id"] for doc in docs])
        return [
            CommentOut(
                id=str(doc["_id"]),
                story_id=doc["story_id"],
                text=doc["text"],
                status=doc["status"],
                author=CommentAuthor(id=doc["user_id"], nickname=names[doc["user_id"]]),
                created_at=doc["created_at"],
            )
            for doc in docs
        ]

    async def export_personal_data(self, user_id: str) -> Any:
        return [
            {
                "story_id": doc["story_id"],
                "text": doc["text"],
                "status": doc["status"],
                "created_at": doc["created_at"].isoformat(),
            }
            for doc in await self.repo.of_user(user_id)
        ]

    async def erase_personal_data(self, user_id: str) -> None:
        for doc in await self.repo.of_user(user_id):
            if await self.repo.delete(doc["_id"]) and doc["status"] == "approved":
                await self.engagement.count_comments(doc["story_id"], -1)
