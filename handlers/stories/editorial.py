"""The editorial workflow (four eyes), revisions, the audit log and the staff lists.

Workflow: draft -> in_review -> published | scheduled -> unpublished, and reject
(with a reason) back to draft. Every change is one conditional single-document
update on the expected status and/or revision, and bumps ``revision``; a PATCH that
carries a stale revision is 409 ``revision_conflict``. An editor cannot publish a
story they wrote: a reviewer or admin does. A scheduled story is public once its
``published_at`` has passed (the feed decides at read time); at that moment the
worker's job moves it to ``published`` and invalidates the feed cache, and a sweep
every minute does the same for any job that was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from config.settings import Settings
from handlers.media.service import MediaService
from handlers.stories import search
from handlers.stories.feed import FeedService
from handlers.stories.markdown import render
from handlers.stories.people import PHOTO_PURPOSES, PeopleService, normalise_tags
from handlers.stories.repo import ADMIN_STORIES, PUBLIC_STATUSES, Document, StoryRepo, new_id
from handlers.stories.schemas import AdminStoryOut, AdminStoryPage, RevisionOut
from server.cache import VersionedCache
from server.clock import Clock
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE, AppError, Conflict, Forbidden, NotFound
from server.jobqueue import JobQueue
from server.paging import PageQuery
from server.principal import Principal

SCHEDULER = "scheduler"  # the audit log's "by" for what the worker does on its own
PUBLISH_JOB = "publish_due_story"  # the stories room's job (handlers/stories/__init__.py)


class RevisionConflict(Conflict):
    code = "revision_conflict"
    message = "稿件已被他人修改，请刷新后再编辑"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    message = "稿件当前状态不允许此操作"


class OwnStoryPublish(Forbidden):
    code = "four_eyes_required"
    message = "不能发布自己撰写的稿件，请由审核员发布"


class PersonNotFound(AppError):
    status = 422
    code = "person_not_found"
    message = "人物不存在"


def _media_ids(doc: Document) -> set[str]:
    ids = set(doc.get("gallery_media_ids", []))
    if doc.get("cover_media_id"):
        ids.add(doc["cover_media_id"])
    return ids


class EditorialService:
    def __init__(
        self,
        settings: Settings,
        repo: StoryRepo,
        people: PeopleService,
        media: MediaService,
        feed: FeedService,
        cache: VersionedCache,
        jobs: JobQueue,
        degrade: Degrade,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.people = people
        self.media = media
        self.feed = feed
        self.cache = cache
        self.jobs = jobs
        self.degrade = degrade
        self.clock = clock

    # -- writing ---------------------------------------------------------------------

    async def _content(self, fields: dict[str, Any], base: Document | None) -> Document:
        """Derived fields (HTML, search terms) for the story's content after ``fields``."""
        merged = {**(base or {}), **fields}
        person_ids = list(dict.fromkeys(merged.get("person_ids", [])))
        people = await self.people.by_id(person_ids)
        if len(people) != len(person_ids):
            missing = sorted(set(person_ids) - set(people))
            raise PersonNotFound(details={"fields": {"person_ids": f"unknown: {missing}"}})
        content: Document = {
            "body_html": render(merged.get("body_markdown", ""), self.settings.public_base_url),
            "terms": search.index_terms(
                title=merged.get("title", ""),
                summary=merged.get("summary", ""),
                body=merged.get("body_markdown", ""),
                tags=merged.get("tags", []),
                people_names=[people[pid]["name"] for pid in person_ids],
            ),
        }
        if "person_ids" in fields:
            content["person_ids"] = person_ids
        if "tags" in fields:
            content["tags"] = normalise_tags(fields["tags"])
        return content

    async def _use_media(self, principal: Principal, media_ids: set[str], ref: str) -> None:
        """Check the photos the story will show and mark them as used by it, before the
        story is written (a refusal writes nothing)."""
        await self.media.use(
            sorted(media_ids),
            ref,
            owner_id=principal.user_id,
            public=True,  # a draft is written to be published
            purposes=PHOTO_PURPOSES,
        )

    async def create(self, principal: Principal, fields: dict[str, Any]) -> Document:
        now = self.clock.now()
        story_id = new_id()
        draft: Document = {
            "_id": story_id,
            "title": fields["title"],
            "summary": fields.get("summary", ""),
            "body_markdown": fields.get("body_markdown", ""),
            "cover_media_id": fields.get("cover_media_id"),
            "gallery_media_ids": list(dict.fromkeys(fields.get("gallery_media_ids", []))),
            "category": fields["category"],
            "tags": normalise_tags(fields.get("tags", [])),
            "person_ids": [],
            "pinned": bool(fields.get("pinned", False)),
            "status": "draft",
            "revision": 1,
            "author_id": principal.user_id,
            "published_at": None,
            "reject_reason": None,
            "stats": {"views": 0, "likes": 0, "favorites": 0, "comments": 0},
            "created_at": now,
            "updated_at": now,
        }
        draft.update(await self._content(fields, draft))
        # People and photos are checked before anything is written: a bad one leaves no
        # draft behind.
        ref, media_ids = f"story:{story_id}", _media_ids(draft)
        await self._use_media(principal, media_ids, ref)
        try:
            doc = await self.repo.insert(draft)
        except BaseException:
            await asyncio.shield(self.media.release(media_ids, ref))
            raise
        await self.repo.add_revision(doc, principal.user_id, "create", now)
        await self.repo.log(story_id, "create", principal.user_id, now)
        return doc

    async def patch(
        self, principal: Principal, story_id: str, revision: int, fields: dict[str, Any]
    ) -> Document:
        current = await self.repo.get(story_id)
        if current is None:
            raise NotFound()
        story_id = str(current["_id"])
        if current["revision"] != revision:
            raise RevisionConflict(details={"current_revision": current["revision"]})
        changes = {**fields}
        if "gallery_media_ids" in changes:
            changes["gallery_media_ids"] = list(dict.fromkeys(changes["gallery_media_ids"]))
        changes.update(await self._content(fields, current))
        changes["updated_at"] = self.clock.now()
        ref, before = f"story:{story_id}", _media_ids(current)
        after = _media_ids({**current, **changes})
        added = after - before
        await self._use_media(principal, added, ref)
        try:
            updated = await self.repo.update_if(story_id, {"revision": revision}, changes)
        except BaseException:
            await asyncio.shield(self.media.release(added, ref))
            raise
        if updated is None:
            await self.media.release(added, ref)
            latest = await self.repo.get(story_id)
            raise RevisionConflict(
                details={"current_revision": latest["revision"] if latest else None}
            )
        await self.media.release(before - after, ref)
        if updated["status"] in PUBLIC_STATUSES:
            await self.cache.invalidate()
        await self.repo.add_revision(updated, principal.user_id, "edit", changes["updated_at"])
        await self.repo.log(
            story_id, "edit", principal.user_id, changes["updated_at"], fields=sorted(fields)
        )
        return updated

    async def _transition(
        self,
        principal: Principal,
        story_id: str,
        action: str,
        allowed_from: tuple[str, ...],
        changes: Document,
        check: Callable[[Document], None] | None = None,
    ) -> Document:
        current = await self.repo.get(story_id)
        if current is None:
            raise NotFound()
        if check is not None:
            check(current)
        if current["status"] not in allowed_from:
            raise InvalidTransition(
                details={"status": current["status"], "allowed_from": list(allowed_from)}
            )
        now = self.clock.now()
        updated = await self.repo.update_if(
            story_id,
            {"status": current["status"], "revision": current["revision"]},
            {**changes, "updated_at": now},
        )
        if updated is None:  # someone else moved it meanwhile
            raise InvalidTransition(details={"status": "changed concurrently"})
        if current["status"] in PUBLIC_STATUSES or updated["status"] in PUBLIC_STATUSES:
            await self.cache.invalidate()  # it entered or left the public feed
        await self.repo.log(story_id, action, principal.user_id, now, status=updated["status"])
        return updated

    async def submit(self, principal: Principal, story_id: str) -> Document:
        return await self._transition(
            principal, story_id, "submit", ("draft", "unpublished"),
            {"status": "in_review", "reject_reason": None},
        )  # fmt: skip

    async def publish(
        self, principal: Principal, story_id: str, publish_at: datetime | None
    ) -> Document:
        def four_eyes(current: Document) -> None:
            if current["author_id"] == principal.user_id:
                raise OwnStoryPublish()

        now = self.clock.now()
        when = publish_at if publish_at and publish_at > now else now
        status = "scheduled" if when > now else "published"
        doc = await self._transition(
            principal, story_id, "publish", ("in_review",),
            {"status": status, "published_at": when}, check=four_eyes,
        )  # fmt: skip
        if status == "scheduled":
            try:
                await self.jobs.run_at(
                    PUBLISH_JOB,
                    doc["published_at"],
                    f"publish:{story_id}:{doc['revision']}",
                    story_id,
                )
            except REDIS_UNAVAILABLE as exc:
                # Still public on time (read-time rule); the worker's sweep moves it.
                self.degrade.redis("schedule_publish", exc)
        return doc

    async def publish_due(self, story_id: str) -> bool:
        """Worker: a scheduled story whose time has come becomes ``published``; True if
        this call moved it (False: not due, unpublished meanwhile, or done already)."""
        now = self.clock.now()
        if await self.repo.publish_due(story_id, now) is None:
            return False
        await self.cache.invalidate()
        await self.repo.log(story_id, "publish_scheduled", SCHEDULER, now, status="published")
        return True

    async def publish_due_stories(self) -> int:
        """Worker sweep: publish every scheduled story that is due (jobs lost with Redis)."""
        published = 0
        for story_id in await self.repo.due_scheduled(self.clock.now()):
            published += await self.publish_due(story_id)
        return published

    async def reject(self, principal: Principal, story_id: str, reason: str) -> Document:
        return await self._transition(
            principal, story_id, "reject", ("in_review",),
            {"status": "draft", "reject_reason": reason},
        )  # fmt: skip

    async def unpublish(self, principal: Principal, story_id: str) -> Document:
        return await self._transition(
            principal, story_id, "unpublish", ("published", "scheduled"),
            {"status": "unpublished"},
        )  # fmt: skip

    # -- staff reads -----------------------------------------------------------------

    async def get(self, story_id: str) -> Document:
        doc = await self.repo.get(story_id)
        if doc is None:
            raise NotFound()
        return doc

    async def admin_page(self, status: str | None, query: PageQuery) -> AdminStoryPage:
        """Every story (or those in ``status``), newest first."""
        position = ADMIN_STORIES.decode(query.cursor)
        docs = await self.repo.admin_page(status=status, position=position, limit=query.limit + 1)
        docs, next_cursor = ADMIN_STORIES.page(docs, query.limit)
        return AdminStoryPage(items=await self.admin_outs(docs), next_cursor=next_cursor)

    async def titles(self) -> set[str]:
        return await self.repo.titles()

    async def revisions(self, story_id: str) -> list[RevisionOut]:
        await self.get(story_id)
        return [RevisionOut(**doc) for doc in await self.repo.revisions_of(story_id)]

    async def admin_outs(self, docs: list[Document]) -> list[AdminStoryOut]:
        """``AdminStoryOut`` of each of ``docs`` (people and photos in one query each)."""
        fulls = await self.feed.fulls(docs)
        return [
            AdminStoryOut(
                **{**full.model_dump(), "status": doc["status"]},
                revision=doc["revision"],
                author_id=doc["author_id"],
                reject_reason=doc.get("reject_reason"),
                created_at=doc["created_at"],
                updated_at=doc["updated_at"],
            )
            for doc, full in zip(docs, fulls, strict=True)
        ]

    async def admin_out(self, doc: Document) -> AdminStoryOut:
        return (await self.admin_outs([doc]))[0]
