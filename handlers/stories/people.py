"""People (劳模工匠): model workers and craftsmen with their honours, found by name and
pinyin. Stories link them by id; their names and honours show in story summaries."""

from __future__ import annotations

import asyncio
from typing import Any

from pypinyin import lazy_pinyin

from handlers.media.service import MediaService
from handlers.stories import search
from handlers.stories.repo import PEOPLE, Document, PeopleRepo, new_id
from handlers.stories.schemas import HonourOut, PersonOut, PersonPage, PersonRef
from server.cache import VersionedCache
from server.clock import Clock
from server.errors import NotFound
from server.paging import PageQuery
from server.principal import Principal

# The photos stories and people show: uploaded for them (never a check-in photo, nor
# someone's avatar), by the editor who links them, and public.
PHOTO_PURPOSES = frozenset({"story"})


def normalise_tags(tags: list[str]) -> list[str]:
    """Tags trimmed, empty ones dropped, duplicates removed (first one kept)."""
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = tag.strip()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


class PeopleService:
    def __init__(
        self, repo: PeopleRepo, media: MediaService, cache: VersionedCache, clock: Clock
    ) -> None:
        self.repo = repo
        self.media = media
        self.cache = cache
        self.clock = clock

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

    async def _use_portrait(self, principal: Principal, media_id: str, ref: str) -> None:
        await self.media.use(
            [media_id],
            ref,
            owner_id=principal.user_id,
            public=True,  # people are public, and so is everything they show
            purposes=PHOTO_PURPOSES,
            field="portrait_media_id",
        )

    async def create(self, principal: Principal, fields: dict[str, Any]) -> Document:
        honours = [dict(h) for h in fields.get("honours", [])]
        portrait = fields.get("portrait_media_id")
        now = self.clock.now()
        person_id = new_id()
        ref = f"person:{person_id}"
        # The portrait is checked (and marked as used) before the person is written: a
        # photo that may not be shown leaves no person behind.
        if portrait:
            await self._use_portrait(principal, portrait, ref)
        try:
            doc = await self.repo.insert(
                {
                    "_id": person_id,
                    "name": fields["name"],
                    "honours": honours,
                    "workplace": fields.get("workplace"),
                    "bio": fields.get("bio", ""),
                    "portrait_media_id": portrait,
                    "tags": normalise_tags(fields.get("tags", [])),
                    "created_at": now,
                    "updated_at": now,
                    "created_by": principal.user_id,
                    **self._derived(fields["name"], honours),
                }
            )
        except BaseException:
            if portrait:
                await asyncio.shield(self.media.release([portrait], ref))
            raise
        return doc

    async def update(
        self, principal: Principal, person_id: str, changes: dict[str, Any]
    ) -> Document:
        current = await self.repo.get(person_id)
        if current is None:
            raise NotFound()
        person_id = str(current["_id"])
        if "honours" in changes:
            changes["honours"] = [dict(h) for h in changes["honours"]]
        if "tags" in changes:
            changes["tags"] = normalise_tags(changes["tags"])
        name: str = changes["name"] if "name" in changes else current["name"]
        honours: list[dict[str, Any]] = (
            changes["honours"] if "honours" in changes else current["honours"]
        )
        ref = f"person:{person_id}"
        old = current.get("portrait_media_id")
        new = changes.get("portrait_media_id")
        added = new if new and new != old else None
        if added:
            await self._use_portrait(principal, added, ref)
        try:
            updated = await self.repo.update(
                person_id,
                {**changes, **self._derived(name, honours), "updated_at": self.clock.now()},
            )
        except BaseException:
            if added:
                await asyncio.shield(self.media.release([added], ref))
            raise
        if updated is None:
            if added:
                await self.media.release([added], ref)
            raise NotFound()
        await self.cache.invalidate()  # names and honours show in story summaries
        if "portrait_media_id" in changes and old and old != new:
            await self.media.release([old], ref)
        return updated

    async def get(self, person_id: str) -> Document:
        doc = await self.repo.get(person_id)
        if doc is None:
            raise NotFound()
        return doc

    async def find_by_name(self, name: str) -> Document | None:
        return await self.repo.find_by_name(name)

    async def by_id(self, person_ids: list[str]) -> dict[str, Document]:
        """The people of ``person_ids`` that exist, by id, in one query."""
        return {str(doc["_id"]): doc for doc in await self.repo.get_many(person_ids)}

    async def page(self, honour: str | None, q: str | None, query: PageQuery) -> PersonPage:
        """People (with ``honour``; matching ``q``, also by pinyin), in the order added."""
        position = PEOPLE.decode(query.cursor)  # a bad cursor is 422 whatever the query
        terms = search.query_terms(q) if q else None
        if terms is not None and not terms.all_terms():
            return PersonPage(items=[], next_cursor=None)
        docs = await self.repo.page(
            honour=honour, terms=terms, position=position, limit=query.limit + 1
        )
        docs, next_cursor = PEOPLE.page(docs, query.limit)
        return PersonPage(items=await self.outs(docs), next_cursor=next_cursor)

    # -- out -------------------------------------------------------------------------

    async def outs(self, docs: list[Document]) -> list[PersonOut]:
        """``PersonOut`` of each of ``docs``, their portraits read in one query."""
        portraits = await self.media.get_outs(
            [doc["portrait_media_id"] for doc in docs if doc.get("portrait_media_id")]
        )
        return [
            PersonOut(
                id=str(doc["_id"]),
                name=doc["name"],
                pinyin=doc["pinyin"],
                honours=[HonourOut(**h) for h in doc["honours"]],
                workplace=doc.get("workplace"),
                bio=doc.get("bio", ""),
                portrait=portraits.get(doc.get("portrait_media_id") or ""),
                tags=doc.get("tags", []),
            )
            for doc in docs
        ]

    async def out(self, doc: Document) -> PersonOut:
        return (await self.outs([doc]))[0]

    @staticmethod
    def ref(doc: Document) -> PersonRef:
        return PersonRef(
            id=str(doc["_id"]),
            name=doc["name"],
            honours=[HonourOut(**h) for h in doc["honours"]],
        )
