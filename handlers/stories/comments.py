"""Comments on stories, through WeChat text security (msgSecCheck v2).

``result.suggest``: ``pass`` -> approved at once; ``review`` -> pending, for a reviewer;
``risky`` -> 422 ``content_rejected`` and nothing is stored. Accounts without a WeChat
openid (staff) cannot be checked by WeChat, so theirs wait for a reviewer too. Only
approved comments are public and counted in ``stats.comments``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from handlers.auth.service import AuthService
from handlers.stories.repo import CommentRepo, Document
from handlers.stories.schemas import CommentAuthor, CommentOut
from handlers.stories.service import StoryService, decode_cursor, id_page
from server.errors import AppError, NotFound, RateLimited
from server.principal import Principal
from server.redis_state import RateLimiter
from server.wechat import WeChatClient

COMMENTS_PER_MINUTE = 5


class ContentRejected(AppError):
    status = 422
    code = "content_rejected"
    message = "内容未通过安全检查，请修改后再发"


class CommentService:
    privacy_section = "comments"

    def __init__(
        self,
        repo: CommentRepo,
        stories: StoryService,
        auth: AuthService,
        wechat: WeChatClient,
        rate_limiter: RateLimiter,
    ) -> None:
        self.repo = repo
        self.stories = stories
        self.auth = auth
        self.wechat = wechat
        self.rate_limiter = rate_limiter

    async def post(self, principal: Principal, story_id: str, text: str) -> Document:
        await self.stories.get_public(story_id)
        wait_s = await self.rate_limiter.hit(
            f"comment:{principal.user_id}", COMMENTS_PER_MINUTE, 60
        )
        if wait_s is not None:
            raise RateLimited(wait_s, "评论太频繁，请稍后再试")
        user = await self.auth.get_user(principal.user_id)
        if user.openid is None:
            suggest, label = "review", 0
        else:
            check = await self.wechat.msg_sec_check(text, user.openid)
            suggest, label = check.suggest, check.label
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
                "created_at": datetime.now(UTC),
            }
        )
        if status == "approved":
            await self.stories.repo.bump_stat(story_id, "comments", 1)
        return doc

    async def public_page(
        self, story_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Document], str | None]:
        await self.stories.get_public(story_id)
        docs = await self.repo.page(
            {"story_id": story_id, "status": "approved"}, decode_cursor(cursor), limit + 1
        )
        return id_page(docs, limit)

    async def pending_page(
        self, cursor: str | None, limit: int
    ) -> tuple[list[Document], str | None]:
        """The moderation queue, oldest first."""
        docs = await self.repo.page(
            {"status": "pending"}, decode_cursor(cursor), limit + 1, newest_first=False
        )
        return id_page(docs, limit)

    async def moderate(self, principal: Principal, comment_id: str, approve: bool) -> Document:
        decision = "approved" if approve else "rejected"
        doc = await self.repo.moderate(comment_id, decision, principal.user_id, datetime.now(UTC))
        if doc is None:
            existing = await self.repo.get(comment_id)
            if existing is None:
                raise NotFound()
            return existing  # already decided: the first decision stands
        if approve:
            await self.stories.repo.bump_stat(doc["story_id"], "comments", 1)
        return doc

    async def out(self, doc: Document) -> CommentOut:
        return CommentOut(
            id=str(doc["_id"]),
            story_id=doc["story_id"],
            text=doc["text"],
            status=doc["status"],
            author=CommentAuthor(
                id=doc["user_id"], nickname=await self.auth.display_name(doc["user_id"])
            ),
            created_at=doc["created_at"],
        )

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
                await self.stories.repo.bump_stat(doc["story_id"], "comments", -1)
