"""劳模工匠 stories and people: the editorial workflow (four eyes), search, engagement.

Workflow: draft -> in_review -> published | scheduled -> unpublished, and reject
(with a reason) back to draft. Every change is one conditional single-document
update on the expected status and/or revision, and bumps ``revision``; a PATCH that
carries a stale revision is 409 ``revision_conflict``. An editor cannot publish a
story they wrote: a reviewer or admin does. A scheduled story is public once its
``published_at`` has passed (visibility is decided at read time, so it is never late);
at that moment the worker's job moves it to ``published`` and invalidates the feed
cache, and a sweep every minute does the same for any job that was lost.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from pypinyin import lazy_pinyin

from config.settings import Settings
from handlers.media.schemas import MediaOut
from handlers.media.service import MediaNotFound, MediaService
from handlers.stories import search
from handlers.stories.cache import CachedJson, FeedCache
from handlers.stories.markdown import render
from handlers.stories.repo import (
    PUBLIC_STATUSES,
    Document,
    EngagementRepo,
    PeopleRepo,
    StoryRepo,
)
from handlers.stories.schemas import (
    AdminStoryOut,
    FavoriteOut,
    HonourOut,
    LikeOut,
    PersonOut,
    PersonRef,
    RevisionOut,
    StoryListQuery,
    StoryOut,
    StoryPage,
    StoryStats,
    StorySummary,
)
from handlers.stories.views import ViewCounter
from server.degrade import Degrade
from server.errors import REDIS_UNAVAILABLE, AppError, Conflict, Forbidden, NotFound
from server.jobqueue import JobQueue
from server.principal import Principal

log = logging.getLogger("jiangxin.stories")

SEARCH_CANDIDATES = 200
SCHEDULER = "scheduler"  # the audit log's "by" for what the worker does on its own


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


class BadCursor(AppError):
    status = 400
    code = "invalid_request"
    message = "分页游标无效"


def _now() -> datetime:
    return datetime.now(UTC)


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode()


def decode_cursor(cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise BadCursor(details={"fields": {"cursor": "not a cursor we issued"}}) from None


def id_page(docs: list[Document], limit: int) -> tuple[list[Document], str | None]:
    """Split ``limit + 1`` fetched documents into the page and the cursor after it."""
    if len(docs) <= limit:
        return docs, None
    return docs[:limit], encode_cursor(str(docs[limit - 1]["_id"]))


def _normalise_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = tag.strip()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


class PeopleService:
    def __init__(self, repo: PeopleRepo, media: MediaService, cache: FeedCache) -> None:
        self.repo = repo
        self.media = media
        self.cache = cache

    @staticmethod
    def _derived(name: str, honours: list[dict[str, Any]]) -> Document:
        syllables = lazy_pinyin(name)
        return {
            "pinyin": "".join(syllables),
            "honour_names": sorted({h["name"] for h in honours}),
            "terms": search.index_terms(
                title="", summary="", body="", tags=[], people_names=[name]
            ),
        }

    async def create(self, principal: Principal, fields: dict[str, Any]) -> Document:
        honours = [dict(h) for h in fields.get("honours", [])]
        portrait = fields.get("portrait_media_id")
        now = _now()
        doc = await self.repo.insert(
            {
                "name": fields["name"],
                "honours": honours,
                "workplace": fields.get("workplace"),
                "bio": fields.get("bio", ""),
                "portrait_media_id": portrait,
                "tags": _normalise_tags(fields.get("tags", [])),
                "created_at": now,
                "updated_at": now,
                "created_by": principal.user_id,
                **self._derived(fields["name"], honours),
            }
        )
        if portrait:
            await self._attach(portrait, principal, f"person:{doc['_id']}")
        return doc

    async def update(
        self, principal: Principal, person_id: str, changes: dict[str, Any]
    ) -> Document:
        current = await self.repo.get(person_id)
        if current is None:
            raise NotFound()
        if "honours" in changes:
            changes["honours"] = [dict(h) for h in changes["honours"]]
        if "tags" in changes:
            changes["tags"] = _normalise_tags(changes["tags"])
        name: str = changes["name"] if "name" in changes else current["name"]
        honours: list[dict[str, Any]] = (
            changes["honours"] if "honours" in changes else current["honours"]
        )
        ref = f"person:{person_id}"
        if changes.get("portrait_media_id"):
            await self._attach(changes["portrait_media_id"], principal, ref)
        updated = await self.repo.update(
            person_id, {**changes, **self._derived(name, honours), "updated_at": _now()}
        )
        if updated is None:
            raise NotFound()
        await self.cache.invalidate()  # names and honours show in story summaries
        old = current.get("portrait_media_id")
        if "portrait_media_id" in changes and old and old != changes["portrait_media_id"]:
            await self.media.detach(old, ref)
        return updated

    async def _attach(self, media_id: str, principal: Principal, ref: str) -> None:
        try:
            await self.media.attach(media_id, principal.user_id, ref)
        except MediaNotFound:
            raise MediaNotFound(
                details={"fields": {"portrait_media_id": "no such photo of yours"}}
            ) from None

    async def get(self, person_id: str) -> Document:
        doc = await self.repo.get(person_id)
        if doc is None:
            raise NotFound()
        return doc

    async def out(self, doc: Document) -> PersonOut:
        return PersonOut(
            id=str(doc["_id"]),
            name=doc["name"],
            pinyin=doc["pinyin"],
            honours=[HonourOut(**h) for h in doc["honours"]],
            workplace=doc.get("workplace"),
            bio=doc.get("bio", ""),
            portrait=await self.media.get_out(doc.get("portrait_media_id")),
            tags=doc.get("tags", []),
        )

    async def by_id(self, person_ids: list[str]) -> dict[str, Document]:
        """The people of ``person_ids`` that exist, by id, in one query."""
        return {str(doc["_id"]): doc for doc in await self.repo.get_many(person_ids)}

    @staticmethod
    def ref(doc: Document) -> PersonRef:
        return PersonRef(
            id=str(doc["_id"]),
            name=doc["name"],
            honours=[HonourOut(**h) for h in doc["honours"]],
        )

    async def page(
        self, honour: str | None, q: str | None, cursor: str | None, limit: int
    ) -> tuple[list[Document], str | None]:
        terms = search.query_terms(q).all_terms() if q else None
        if terms is not None and not terms:
            return [], None
        after = decode_cursor(cursor)
        docs = await self.repo.page(honour=honour, terms=terms, after_id=after, limit=limit + 1)
        return id_page(docs, limit)


class StoryService:
    def __init__(
        self,
        settings: Settings,
        repo: StoryRepo,
        engagement: EngagementRepo,
        people: PeopleService,
        media: MediaService,
        cache: FeedCache,
        views: ViewCounter,
        jobs: JobQueue,
        degrade: Degrade,
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.engagement = engagement
        self.people = people
        self.media = media
        self.cache = cache
        self.views = views
        self.jobs = jobs
        self.degrade = degrade

    # -- writing ---------------------------------------------------------------------

    async def _content(self, fields: dict[str, Any], base: Document | None) -> Document:
        """Derived fields (HTML, search terms) for the story's content after ``fields``."""
        merged = {**(base or {}), **fields}
        person_ids = list(dict.fromkeys(merged.get("person_ids", [])))
        people = await self.people.repo.get_many(person_ids)
        if len(people) != len(person_ids):
            missing = sorted(set(person_ids) - {str(p["_id"]) for p in people})
            raise PersonNotFound(details={"fields": {"person_ids": f"unknown: {missing}"}})
        content: Document = {
            "body_html": render(merged.get("body_markdown", ""), self.settings.public_base_url),
            "terms": search.index_terms(
                title=merged.get("title", ""),
                summary=merged.get("summary", ""),
                body=merged.get("body_markdown", ""),
                tags=merged.get("tags", []),
                people_names=[p["name"] for p in people],
            ),
        }
        if "person_ids" in fields:
            content["person_ids"] = person_ids
        if "tags" in fields:
            content["tags"] = _normalise_tags(fields["tags"])
        return content

    def _media_ids(self, doc: Document) -> set[str]:
        ids = set(doc.get("gallery_media_ids", []))
        if doc.get("cover_media_id"):
            ids.add(doc["cover_media_id"])
        return ids

    async def _sync_media(
        self, principal: Principal, before: Document | None, after: Document
    ) -> None:
        ref = f"story:{after['_id']}"
        old = self._media_ids(before) if before else set()
        new = self._media_ids(after)
        for media_id in sorted(new - old):
            try:
                await self.media.attach(media_id, principal.user_id, ref)
            except MediaNotFound:
                raise MediaNotFound(
                    details={"fields": {"media": f"no such photo of yours: {media_id}"}}
                ) from None
        for media_id in sorted(old - new):
            await self.media.detach(media_id, ref)

    async def create(self, principal: Principal, fields: dict[str, Any]) -> Document:
        now = _now()
        draft: Document = {
            "title": fields["title"],
            "summary": fields.get("summary", ""),
            "body_markdown": fields.get("body_markdown", ""),
            "cover_media_id": fields.get("cover_media_id"),
            "gallery_media_ids": list(dict.fromkeys(fields.get("gallery_media_ids", []))),
            "category": fields["category"],
            "tags": _normalise_tags(fields.get("tags", [])),
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
        # Photos are checked before anything is written: a bad id leaves no draft behind.
        for media_id in sorted(self._media_ids(draft)):
            if await self.media.repo.get(media_id) is None:
                raise MediaNotFound(details={"fields": {"media": f"unknown: {media_id}"}})
        doc = await self.repo.insert(draft)
        await self._sync_media(principal, None, doc)
        await self.repo.add_revision(doc, principal.user_id, "create", now)
        await self.repo.log(str(doc["_id"]), "create", principal.user_id, now)
        return doc

    async def patch(
        self, principal: Principal, story_id: str, revision: int, fields: dict[str, Any]
    ) -> Document:
        current = await self.repo.get(story_id)
        if current is None:
            raise NotFound()
        if current["revision"] != revision:
            raise RevisionConflict(details={"current_revision": current["revision"]})
        changes = {**fields}
        if "gallery_media_ids" in changes:
            changes["gallery_media_ids"] = list(dict.fromkeys(changes["gallery_media_ids"]))
        changes.update(await self._content(fields, current))
        changes["updated_at"] = _now()
        updated = await self.repo.update_if(story_id, {"revision": revision}, changes)
        if updated is None:
            latest = await self.repo.get(story_id)
            raise RevisionConflict(
                details={"current_revision": latest["revision"] if latest else None}
            )
        await self._sync_media(principal, current, updated)
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
        check: Any = None,
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
        now = _now()
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

        now = _now()
        when = publish_at if publish_at and publish_at > now else now
        status = "scheduled" if when > now else "published"
        doc = await self._transition(
            principal, story_id, "publish", ("in_review",),
            {"status": status, "published_at": when}, check=four_eyes,
        )  # fmt: skip
        if status == "scheduled":
            try:
                await self.jobs.run_at(
                    "publish_due_story",
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
        now = _now()
        updated = await self.repo.update_if(
            story_id,
            {"status": "scheduled", "published_at": {"$lte": now}},
            {"status": "published", "updated_at": now},
        )
        if updated is None:
            return False
        await self.cache.invalidate()
        await self.repo.log(story_id, "publish_scheduled", SCHEDULER, now, status="published")
        return True

    async def publish_due_stories(self) -> int:
        """Worker sweep: publish every scheduled story that is due (jobs lost with Redis)."""
        published = 0
        for doc in await self.repo.due_scheduled(_now()):
            published += await self.publish_due(str(doc["_id"]))
        return published

    async def store_views(self) -> int:
        """Worker: move the views counted in Redis into the stories; how many."""
        return await self.views.drain(self.repo.add_views)

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

    # -- reading ---------------------------------------------------------------------

    async def summaries(self, docs: list[Document]) -> list[StorySummary]:
        """Summaries of ``docs``, with their people and covers read in one query each."""
        people = await self.people.by_id(
            list(dict.fromkeys(pid for doc in docs for pid in doc.get("person_ids", [])))
        )
        media = await self.media.get_outs(
            [doc["cover_media_id"] for doc in docs if doc.get("cover_media_id")]
        )
        return [self._summary(doc, people, media) for doc in docs]

    def _summary(
        self, doc: Document, people: dict[str, Document], media: dict[str, MediaOut]
    ) -> StorySummary:
        cover_id = doc.get("cover_media_id")
        return StorySummary(
            id=str(doc["_id"]),
            title=doc["title"],
            summary=doc["summary"],
            cover=media.get(cover_id) if cover_id else None,
            category=doc["category"],
            tags=doc["tags"],
            people=[
                self.people.ref(people[pid]) for pid in doc.get("person_ids", []) if pid in people
            ],
            pinned=doc["pinned"],
            published_at=doc.get("published_at"),
            stats=StoryStats(**doc.get("stats", {})),
        )

    async def full(self, doc: Document, viewer: Principal | None) -> StoryOut:
        people = await self.people.by_id(doc.get("person_ids", []))
        gallery_ids: list[str] = doc.get("gallery_media_ids", [])
        media = await self.media.get_outs(
            [*filter(None, [doc.get("cover_media_id")]), *gallery_ids]
        )
        base = self._summary(doc, people, media)
        story_id = str(doc["_id"])
        liked = favorited = False
        if viewer is not None:
            liked = await self.engagement.has("likes", story_id, viewer.user_id)
            favorited = await self.engagement.has("favorites", story_id, viewer.user_id)
        return StoryOut(
            **base.model_dump(),
            body_markdown=doc["body_markdown"],
            body_html=doc["body_html"],
            gallery=[media[mid] for mid in gallery_ids if mid in media],
            status=doc["status"] if doc["status"] != "scheduled" else "published",
            liked=liked,
            favorited=favorited,
        )

    async def admin_out(self, doc: Document) -> AdminStoryOut:
        full = await self.full(doc, None)
        return AdminStoryOut(
            **{**full.model_dump(), "status": doc["status"]},
            revision=doc["revision"],
            author_id=doc["author_id"],
            reject_reason=doc.get("reject_reason"),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
        )

    async def public_page_json(self, query: StoryListQuery) -> CachedJson:
        """One page of the feed as JSON, from the cache when it has it."""

        async def build() -> bytes:
            docs, next_cursor = await self.public_page(
                category=query.category,
                tag=query.tag,
                person_id=query.person_id,
                q=query.q,
                cursor=query.cursor,
                limit=query.limit,
            )
            page = StoryPage(items=await self.summaries(docs), next_cursor=next_cursor)
            return orjson.dumps(page.model_dump(mode="json"))

        return await self.cache.fetch("page", query.canonical, build)

    async def story_json(self, story_id: str, viewer: Principal | None) -> CachedJson:
        """A public story as JSON (counted as a view): the body from the cache, the
        viewer's flags fresh."""

        async def build() -> bytes:
            doc = await self.get_public(story_id)  # 404s are not cached
            return orjson.dumps((await self.full(doc, None)).model_dump(mode="json"))

        cached = await self.cache.fetch("story", story_id, build)
        self.views.record(story_id)
        if viewer is None:
            return cached
        story = orjson.loads(cached.body)
        liked = story["liked"] = await self.engagement.has("likes", story_id, viewer.user_id)
        favorited = story["favorited"] = await self.engagement.has(
            "favorites", story_id, viewer.user_id
        )
        # The bytes are a function of the shared body and the two flags: so is the tag
        # (no hashing of the whole body per request).
        return CachedJson(orjson.dumps(story), f'{cached.etag[:-1]}-{liked:d}{favorited:d}"')

    async def get_public(self, story_id: str) -> Document:
        doc = await self.repo.get_public(story_id, _now())
        if doc is None:
            raise NotFound()  # drafts and unpublished stories do not exist for the public
        return doc

    async def get_admin(self, story_id: str) -> Document:
        doc = await self.repo.get(story_id)
        if doc is None:
            raise NotFound()
        return doc

    async def public_page(
        self,
        *,
        category: str | None,
        tag: str | None,
        person_id: str | None,
        q: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Document], str | None]:
        filters: Document = {}
        if category:
            filters["category"] = category
        if tag:
            filters["tags"] = tag.strip()
        if person_id:
            filters["person_ids"] = person_id
        now = _now()
        if q:
            query = search.query_terms(q)
            terms = query.all_terms()
            if not terms:
                return [], None
            offset = int(decode_cursor(cursor) or 0) if cursor else 0
            if not isinstance(offset, int) or offset < 0:
                raise BadCursor()
            candidates = await self.repo.public_candidates(
                now=now, filters=filters, terms=terms, limit=SEARCH_CANDIDATES
            )
            scored = [(search.score(doc, query), doc) for doc in candidates]
            ranked = [
                doc
                for score, doc in sorted(
                    scored, key=lambda pair: (-pair[0], -pair[1]["published_at"].timestamp())
                )
                if score > 0
            ]
            window = ranked[offset : offset + limit]
            more = len(ranked) > offset + limit
            return window, encode_cursor(offset + limit) if more else None
        after_raw = decode_cursor(cursor)
        after = None
        if after_raw is not None:
            try:
                pinned, published_iso, last_id = after_raw
                after = (bool(pinned), datetime.fromisoformat(published_iso), str(last_id))
            except (TypeError, ValueError):
                raise BadCursor() from None
        docs = await self.repo.public_page(now=now, filters=filters, after=after, limit=limit + 1)
        if len(docs) > limit:
            last = docs[limit - 1]
            token = [last["pinned"], last["published_at"].isoformat(), str(last["_id"])]
            return docs[:limit], encode_cursor(token)
        return docs, None

    async def admin_page(
        self, status: str | None, cursor: str | None, limit: int
    ) -> tuple[list[Document], str | None]:
        after = decode_cursor(cursor)
        docs = await self.repo.admin_page(status=status, after_id=after, limit=limit + 1)
        return id_page(docs, limit)

    async def revisions(self, story_id: str) -> list[RevisionOut]:
        await self.get_admin(story_id)
        return [RevisionOut(**doc) for doc in await self.repo.revisions_of(story_id)]

    # -- engagement ------------------------------------------------------------------

    async def set_engagement(
        self, principal: Principal, story_id: str, kind: str, on: bool
    ) -> tuple[bool, int]:
        """Like/favourite on or off; idempotent, counters move only on a real change."""
        doc = await self.get_public(story_id)
        changed = (
            await self.engagement.add(kind, story_id, principal.user_id, _now())
            if on
            else await self.engagement.remove(kind, story_id, principal.user_id)
        )
        if changed:
            doc = await self.repo.bump_stat(story_id, kind, 1 if on else -1) or doc
        return on, int(doc.get("stats", {}).get(kind, 0))

    async def like(self, principal: Principal, story_id: str, on: bool) -> LikeOut:
        liked, likes = await self.set_engagement(principal, story_id, "likes", on)
        return LikeOut(liked=liked, likes=likes)

    async def favorite(self, principal: Principal, story_id: str, on: bool) -> FavoriteOut:
        favorited, count = await self.set_engagement(principal, story_id, "favorites", on)
        return FavoriteOut(favorited=favorited, favorites=count)

    async def favorites_of(
        self, principal: Principal, cursor: str | None, limit: int
    ) -> tuple[list[Document], str | None]:
        before_raw = decode_cursor(cursor)
        before = datetime.fromisoformat(before_raw) if isinstance(before_raw, str) else None
        marks = await self.engagement.of_user("favorites", principal.user_id, before, limit + 1)
        now = _now()
        docs = []
        for mark in marks[:limit]:
            doc = await self.repo.get_public(mark["story_id"], now)
            if doc is not None:
                docs.append(doc)
        more = len(marks) > limit
        return docs, encode_cursor(marks[limit - 1]["at"].isoformat()) if more else None

    # -- personal data (server.privacy) ----------------------------------------------

    privacy_section = "stories"

    async def export_personal_data(self, user_id: str) -> Any:
        return {
            kind: [
                {"story_id": m["story_id"], "at": m["at"].isoformat()}
                for m in await self.engagement.of_user(kind, user_id)
            ]
            for kind in ("likes", "favorites")
        }

    async def erase_personal_data(self, user_id: str) -> None:
        for kind in ("likes", "favorites"):
            while marks := await self.engagement.of_user(kind, user_id, limit=500):
                for mark in marks:
                    if await self.engagement.remove(kind, mark["story_id"], user_id):
                        await self.repo.bump_stat(mark["story_id"], kind, -1)
