"""What the public reads: the feed, search, a story, and the mapping of story documents
to ``StorySummary`` / ``StoryOut`` (batched: one query per kind of thing per page).

A scheduled story is public once its ``published_at`` has passed: visibility is
decided at read time, against the app clock, so it is never late.

Search ranks in Python: the candidates (public at the search's instant, holding a query
term, the newest ``SEARCH_CANDIDATES``) are scored, ordered by ``SEARCH`` and paged with
``Keyset.after_in_memory``. The first page fixes that instant (``as_of``) in its cursor:
later pages rank the same candidates, so a story published meanwhile neither repeats a
result nor pushes one out of the candidates (no duplicates, no gaps).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.media.schemas import MediaOut
from handlers.media.service import MediaService
from handlers.stories import search
from handlers.stories.people import PeopleService
from handlers.stories.repo import FEED, Document, FeedRepo
from handlers.stories.schemas import (
    StoryListQuery,
    StoryOut,
    StoryPage,
    StoryStats,
    StorySummary,
)
from server.clock import Clock
from server.errors import NotFound
from server.paging import Keyset, SortField

SEARCH_CANDIDATES = 200
PERSON_STORIES = 50
SEARCH = Keyset(
    "search",
    (
        SortField("score", "float", descending=True),
        SortField("published_at", "datetime", descending=True),
        SortField("_id", "object_id", descending=True),
    ),
    context=(SortField("as_of", "datetime"),),
)
"""Search results: best first, then newest first; the first page's instant as context."""


def _ranked_values(item: tuple[float, Document]) -> tuple[float, datetime, str]:
    score, doc = item
    return score, doc["published_at"], str(doc["_id"])


class FeedService:
    def __init__(
        self, repo: FeedRepo, people: PeopleService, media: MediaService, clock: Clock
    ) -> None:
        self.repo = repo
        self.people = people
        self.media = media
        self.clock = clock

    # -- documents -------------------------------------------------------------------

    async def get_public(self, story_id: str) -> Document:
        doc = await self.repo.get_public(story_id, self.clock.now())
        if doc is None:
            raise NotFound()  # drafts and unpublished stories do not exist for the public
        return doc

    async def public_many(self, story_ids: list[str]) -> list[Document]:
        """The public ones of ``story_ids``, in that order, in one query."""
        found = await self.repo.get_public_many(story_ids, self.clock.now())
        return [found[sid] for sid in story_ids if sid in found]

    async def page(
        self, query: StoryListQuery, *, person_id: str | None = None
    ) -> tuple[list[Document], str | None]:
        """One page of the feed (or of a search, with ``q``) and the next cursor."""
        person_id = person_id or query.person_id
        if query.q:
            return await self._search(query, query.q, person_id)
        position = FEED.decode(query.cursor)
        docs = await self.repo.page(
            now=self.clock.now(),
            category=query.category,
            tag=query.tag,
            person_id=person_id,
            position=position,
            limit=query.limit + 1,
        )
        return FEED.page(docs, query.limit)

    async def _search(
        self, query: StoryListQuery, q: str, person_id: str | None
    ) -> tuple[list[Document], str | None]:
        position = SEARCH.decode(query.cursor)
        terms = search.query_terms(q)
        if not terms.all_terms():
            return [], None
        now = self.clock.now()
        # Capped at the clock: a forged later instant must not show stories not yet out.
        as_of: datetime = min(position.context[0], now) if position else now
        candidates = await self.repo.candidates(
            as_of=as_of,
            category=query.category,
            tag=query.tag,
            person_id=person_id,
            terms=terms,
            limit=SEARCH_CANDIDATES,
        )
        scored = [(search.score(doc, terms), doc) for doc in candidates]
        ranked, next_cursor = SEARCH.after_in_memory(
            [item for item in scored if item[0] > 0],
            _ranked_values,
            position,
            query.limit,
            context=(as_of,),
        )
        return [doc for _, doc in ranked], next_cursor

    # -- out -------------------------------------------------------------------------

    async def public_page(self, query: StoryListQuery) -> StoryPage:
        docs, next_cursor = await self.page(query)
        return StoryPage(items=await self.summaries(docs), next_cursor=next_cursor)

    async def of_person(self, person_id: str) -> list[StorySummary]:
        """The newest 50 public stories about a person."""
        docs = await self.repo.page(
            now=self.clock.now(),
            category=None,
            tag=None,
            person_id=person_id,
            position=None,
            limit=PERSON_STORIES,
        )
        return await self.summaries(docs)

    async def story(self, story_id: str) -> StoryOut:
        """A public story as anyone sees it (``liked``/``favorited`` false)."""
        return (await self.fulls([await self.get_public(story_id)]))[0]

    async def summaries(self, docs: list[Document]) -> list[StorySummary]:
        """Summaries of ``docs``, with their people and covers read in one query each."""
        people, media = await self._related(docs, gallery=False)
        return [self._summary(doc, people, media) for doc in docs]

    async def fulls(self, docs: list[Document]) -> list[StoryOut]:
        """``StoryOut`` of each of ``docs`` as the public sees it, in one query per kind
        (people, photos); the viewer's flags are the engagement service's."""
        people, media = await self._related(docs, gallery=True)
        return [self._full(doc, people, media) for doc in docs]

    async def _related(
        self, docs: list[Document], *, gallery: bool
    ) -> tuple[dict[str, Document], dict[str, MediaOut]]:
        people = await self.people.by_id(
            list(dict.fromkeys(pid for doc in docs for pid in doc.get("person_ids", [])))
        )
        media_ids: list[str] = []
        for doc in docs:
            if doc.get("cover_media_id"):
                media_ids.append(doc["cover_media_id"])
            if gallery:
                media_ids.extend(doc.get("gallery_media_ids", []))
        media = await self.media.get_outs(list(dict.fromkeys(media_ids)))
        return people, media

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

    def _full(
        self, doc: Document, people: dict[str, Document], media: dict[str, MediaOut]
    ) -> StoryOut:
        base: dict[str, Any] = self._summary(doc, people, media).model_dump()
        gallery_ids: list[str] = doc.get("gallery_media_ids", [])
        return StoryOut(
            **base,
            body_markdown=doc["body_markdown"],
            body_html=doc["body_html"],
            gallery=[media[mid] for mid in gallery_ids if mid in media],
            status=doc["status"] if doc["status"] != "scheduled" else "published",
            liked=False,
            favorited=False,
        )
