"""The editorial workflow (four eyes), revisions, the audit log and the staff lists.

Workflow: draft -> in_review -> published | scheduled -> unpublished, and reject
(with a reason) back to draft. Every change is one conditional single-document
update on the expected status and revision, and bumps ``revision``; a PATCH or a
publish that carries a stale revision is 409 ``revision_conflict``.

A public story (published, or scheduled) is never edited in place: its top-level
content is the reviewed revision, which is all the public reads (the feed, search,
people's stories: ``FeedRepo`` reads top-level fields only, the indexed ones). An edit
goes to its pending revision, ``draft`` (every ``CONTENT_FIELDS``, with who edited it),
whose ``draft_status`` goes draft -> submitted -> published (copied over the live
content, in one write) or rejected (the live revision stays). Unpublishing makes the
pending revision the story's content, to be reviewed again as a whole.

Four eyes: nobody publishes a revision they wrote. For a story not yet public that is
its author and everyone who edited it since it was last published; for the pending
revision of a public story, everyone who edited that revision. A scheduled story is
public once its ``published_at`` has passed (the feed decides at read time); at that
moment the worker's job moves it to ``published`` and invalidates the feed cache, and a
sweep every minute does the same for any job that was lost.
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
from handlers.stories.schemas import AdminStoryOut, AdminStoryPage, DraftStatus, RevisionOut
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


# What a revision is: the fields an edit changes (and their derived HTML and search
# terms). A public story's pending revision holds all of them in ``draft``.
CONTENT_FIELDS = (
    "title",
    "summary",
    "body_markdown",
    "body_html",
    "cover_media_id",
    "gallery_media_ids",
    "category",
    "tags",
    "person_ids",
    "pinned",
    "terms",
)


def is_public(doc: Document) -> bool:
    """Published, or scheduled: its top-level content is (or will be) what the public
    reads, so edits wait in a pending revision."""
    return doc["status"] in PUBLIC_STATUSES


def content_of(doc: Document) -> Document:
    return {key: doc.get(key) for key in CONTENT_FIELDS}


def working_copy(doc: Document) -> Document:
    """The story as its editors work on it: with its pending revision, if any."""
    pending = doc.get("draft")
    return {**doc, **content_of(pending)} if pending else doc


_DRAFT_STATUSES: dict[str, DraftStatus] = {
    "draft": "draft",
    "submitted": "submitted",
    "rejected": "rejected",
}


def draft_status_of(doc: Document) -> DraftStatus:
    """none | draft | submitted | rejected: where the pending revision stands."""
    return _DRAFT_STATUSES.get(doc.get("draft_status", ""), "none") if doc.get("draft") else "none"


def editor_ids_of(doc: Document) -> list[str]:
    """Who edited the revision under work: the pending one of a public story, else the
    story since it was last published."""
    pending = doc.get("draft")
    return list((pending if pending else doc).get("editor_ids", []))


def writers_of(doc: Document) -> set[str]:
    """Who may not publish what awaits review (four eyes): whoever edited the pending
    revision of a public story; for any other story its author and every editor since
    it was last published (the whole story is reviewed)."""
    if is_public(doc):
        return set(editor_ids_of(doc))
    return {doc["author_id"], *editor_ids_of(doc)}


def _with(ids: list[str], user_id: str) -> list[str]:
    return ids if user_id in ids else [*ids, user_id]


def _refused(
    doc: Document,
    *,
    allowed_from: tuple[str, ...] = (),
    allowed_draft_from: tuple[str, ...] = (),
) -> InvalidTransition:
    details: Document = {"status": doc["status"], "draft_status": draft_status_of(doc)}
    if allowed_from:
        details["allowed_from"] = list(allowed_from)
    if allowed_draft_from:
        details["allowed_draft_from"] = list(allowed_draft_from)
    return InvalidTransition(details=details)


def _media_ids(doc: Document) -> set[str]:
    """The photos the story shows, in its live and its pending revision."""
    ids: set[str] = set()
    for revision in (doc, doc.get("draft") or {}):
        ids.update(revision.get("gallery_media_ids") or [])
        if revision.get("cover_media_id"):
            ids.add(revision["cover_media_id"])
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
            "editor_ids": [principal.user_id],
            "draft_status": "none",
            "published_revision": None,
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
        """Edit the story, or, once it is public (published or scheduled), its pending
        revision: the public keeps the reviewed one until a reviewer publishes this."""
        current = await self.repo.get(story_id)
        if current is None:
            raise NotFound()
        story_id = str(current["_id"])
        if current["revision"] != revision:
            raise RevisionConflict(details={"current_revision": current["revision"]})
        edit = {**fields}
        if "gallery_media_ids" in edit:
            edit["gallery_media_ids"] = list(dict.fromkeys(edit["gallery_media_ids"]))
        base = working_copy(current)
        edit.update(await self._content(fields, base))
        now = self.clock.now()
        editor_ids = _with(editor_ids_of(current), principal.user_id)
        changes: Document
        if is_public(current):
            pending = current.get("draft") or {}
            changes = {
                "draft": {
                    **content_of(base),
                    **edit,
                    "editor_ids": editor_ids,
                    "reject_reason": pending.get("reject_reason"),
                },
                # An edit keeps a submitted revision submitted (as an edit in review does):
                # the reviewer's publish names the revision they saw, so this edit is
                # never published unseen.
                "draft_status": draft_status_of(current) if pending else "draft",
                "updated_at": now,
            }
        else:
            changes = {**edit, "editor_ids": editor_ids, "updated_at": now}
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
        # Nothing to invalidate: a public story's edit is its pending revision, which the
        # public does not read, and a story that is not public is in no cached answer.
        await self.repo.add_revision(working_copy(updated), principal.user_id, "edit", now)
        await self.repo.log(
            story_id,
            "edit",
            principal.user_id,
            now,
            fields=sorted(fields),
            draft=is_public(updated),
        )
        return updated

    async def _transition(
        self,
        principal: Principal,
        story_id: str,
        action: str,
        decide: Callable[[Document], Document],
        *,
        revision: int | None = None,
    ) -> Document:
        """Move the story by ``decide(current)`` (the changes, or an error), in one write
        conditional on the revision read: a story changed meanwhile is never mixed in.
        With ``revision`` (what the caller saw), a story that changed since is 409
        ``revision_conflict``, before or during the write."""
        current = await self.repo.get(story_id)
        if current is None:
            raise NotFound()
        story_id = str(current["_id"])
        if revision is not None and current["revision"] != revision:
            raise RevisionConflict(details={"current_revision": current["revision"]})
        changes = decide(current)
        now = self.clock.now()
        updated = await self.repo.update_if(
            story_id,
            {"status": current["status"], "revision": current["revision"]},
            {**changes, "updated_at": now},
        )
        if updated is None:  # someone else moved it meanwhile
            if revision is not None:
                latest = await self.repo.get(story_id)
                raise RevisionConflict(
                    details={"current_revision": latest["revision"] if latest else None}
                )
            raise InvalidTransition(details={"status": "changed concurrently"})
        # A revision published over the live one, or folded back on unpublish, may leave
        # photos that neither revision shows any more.
        await self.media.release(_media_ids(current) - _media_ids(updated), f"story:{story_id}")
        shown = any(key in changes for key in (*CONTENT_FIELDS, "status", "published_at"))
        if shown and (is_public(current) or is_public(updated)):
            await self.cache.invalidate()  # what the public sees changed
        await self.repo.log(
            story_id,
            action,
            principal.user_id,
            now,
            status=updated["status"],
            draft_status=draft_status_of(updated),
        )
        return updated

    async def submit(self, principal: Principal, story_id: str) -> Document:
        def decide(current: Document) -> Document:
            if is_public(current):
                if draft_status_of(current) in ("draft", "rejected"):
                    return {
                        "draft_status": "submitted",
                        "draft": {**current["draft"], "reject_reason": None},
                    }
                raise _refused(current, allowed_draft_from=("draft", "rejected"))
            if current["status"] in ("draft", "unpublished"):
                return {"status": "in_review", "reject_reason": None}
            raise _refused(current, allowed_from=("draft", "unpublished"))

        return await self._transition(principal, story_id, "submit", decide)

    async def publish(
        self,
        principal: Principal,
        story_id: str,
        revision: int,
        publish_at: datetime | None = None,
    ) -> Document:
        """Publish the revision the reviewer saw (``revision``): a story in review, now or
        at ``publish_at``, or the submitted revision of a public story, at once (it keeps
        its publication time). Nobody publishes a revision they wrote."""
        now = self.clock.now()
        when = publish_at if publish_at and publish_at > now else now
        status = "scheduled" if when > now else "published"
        scheduled = False  # this publish scheduled the story (not a revision of it)

        def decide(current: Document) -> Document:
            nonlocal scheduled
            if principal.user_id in writers_of(current):
                raise OwnStoryPublish()
            published = {
                "published_revision": current["revision"] + 1,  # this write's revision
                "editor_ids": [],
                "reject_reason": None,
            }
            if is_public(current):
                if draft_status_of(current) != "submitted":
                    raise _refused(current, allowed_draft_from=("submitted",))
                if publish_at is not None:
                    raise InvalidTransition(
                        details={
                            "publish_at": "a revision of a public story is published at once; "
                            "the story keeps its publication time"
                        }
                    )
                return {
                    **content_of(current["draft"]),
                    **published,
                    "draft": None,
                    "draft_status": "none",
                }
            if current["status"] != "in_review":
                raise _refused(current, allowed_from=("in_review",))
            scheduled = status == "scheduled"
            return {**published, "status": status, "published_at": when}

        doc = await self._transition(principal, story_id, "publish", decide, revision=revision)
        await self.repo.add_revision(doc, principal.user_id, "publish", doc["updated_at"])
        if scheduled:
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
        def decide(current: Document) -> Document:
            if is_public(current):
                if draft_status_of(current) == "submitted":
                    # The live revision stays live; the editor reworks the pending one.
                    return {
                        "draft_status": "rejected",
                        "draft": {**current["draft"], "reject_reason": reason},
                    }
                raise _refused(current, allowed_draft_from=("submitted",))
            if current["status"] == "in_review":
                return {"status": "draft", "reject_reason": reason}
            raise _refused(current, allowed_from=("in_review",))

        return await self._transition(principal, story_id, "reject", decide)

    async def unpublish(
        self, principal: Principal, story_id: str, revision: int | None = None
    ) -> Document:
        """Take a public story down; with ``revision`` (what the caller saw), only that
        revision of it (changed since, a scheduled story published meanwhile included:
        409 ``revision_conflict``)."""

        def decide(current: Document) -> Document:
            if not is_public(current):
                raise _refused(current, allowed_from=PUBLIC_STATUSES)
            changes: Document = {"status": "unpublished", "published_revision": None}
            pending = current.get("draft")
            if pending:
                # Nothing is public any more: the pending revision becomes the story the
                # editors work on (the live one stays in the history), and goes through
                # review again as a whole.
                changes.update(
                    {
                        **content_of(pending),
                        "draft": None,
                        "draft_status": "none",
                        "editor_ids": pending.get("editor_ids", []),
                        "reject_reason": None,
                    }
                )
            return changes

        return await self._transition(principal, story_id, "unpublish", decide, revision=revision)

    # -- staff reads -----------------------------------------------------------------

    def preview(self, markdown: str) -> str:
        """The HTML ``markdown`` is published as: the same sanitiser as every story."""
        return render(markdown, self.settings.public_base_url)

    async def get(self, story_id: str) -> Document:
        doc = await self.repo.get(story_id)
        if doc is None:
            raise NotFound()
        return doc

    async def admin_page(
        self, status: str | None, query: PageQuery, *, draft_status: str | None = None
    ) -> AdminStoryPage:
        """Every story (or those in ``status``, or whose pending revision is in
        ``draft_status``: the review queue of public stories), newest first."""
        position = ADMIN_STORIES.decode(query.cursor)
        docs = await self.repo.admin_page(
            status=status, draft_status=draft_status, position=position, limit=query.limit + 1
        )
        docs, next_cursor = ADMIN_STORIES.page(docs, query.limit)
        return AdminStoryPage(items=await self.admin_outs(docs), next_cursor=next_cursor)

    async def titles(self) -> set[str]:
        return await self.repo.titles()

    async def titles_by_id(self, story_ids: list[str]) -> dict[str, str]:
        """Each story's title as the public reads it (a published story's reviewed one),
        by id, in one query (a moderation queue names the stories commented on)."""
        return await self.repo.titles_by_id(list(dict.fromkeys(story_ids)))

    async def ids_by_title(self, titles: list[str]) -> dict[str, str]:
        return await self.repo.ids_by_title(titles)

    async def revisions(self, story_id: str) -> list[RevisionOut]:
        await self.get(story_id)
        return [RevisionOut(**doc) for doc in await self.repo.revisions_of(story_id)]

    async def admin_outs(self, docs: list[Document]) -> list[AdminStoryOut]:
        """``AdminStoryOut`` of each of ``docs`` (people and photos in one query each)."""
        copies = [working_copy(doc) for doc in docs]
        fulls = await self.feed.fulls(copies)
        return [
            AdminStoryOut(
                **{**full.model_dump(), "status": doc["status"]},
                revision=doc["revision"],
                draft_status=draft_status_of(doc),
                published_revision=doc.get("published_revision"),
                author_id=doc["author_id"],
                editor_ids=sorted(writers_of(doc)),
                reject_reason=(doc.get("draft") or doc).get("reject_reason"),
                created_at=doc["created_at"],
                updated_at=doc["updated_at"],
            )
            for doc, full in zip(docs, fulls, strict=True)
        ]

    async def admin_out(self, doc: Document) -> AdminStoryOut:
        return (await self.admin_outs([doc]))[0]
