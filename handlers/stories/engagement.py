"""Likes, favourites (and the list of mine), view counts and the counters on stories.

Likes and favourites are idempotent: one document per story and user, and a counter
moves only when one was really added or removed. Views are counted in the process and
stored by the worker (``views.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from handlers.stories.feed import FeedService
from handlers.stories.repo import FAVORITES, EngagementKind, EngagementRepo
from handlers.stories.schemas import FavoriteOut, LikeOut, StoryPage, StoryStats
from handlers.stories.views import ViewCounter
from server.clock import Clock
from server.paging import PageQuery
from server.principal import Principal
from server.recent_writes import HOLD_S, RecentWrites


@dataclass(frozen=True, slots=True)
class MostRead:
    """A story among the most read of some days, with its views then and in all."""

    story_id: str
    title: str
    status: str
    views: int
    total_views: int


class EngagementService:
    privacy_section = "stories"

    def __init__(
        self,
        repo: EngagementRepo,
        feed: FeedService,
        views: ViewCounter,
        recent_writes: RecentWrites,
        clock: Clock,
        *,
        held_entries: int = 20_000,
    ) -> None:
        self.repo = repo
        self.feed = feed
        self.views = views
        self.recent_writes = recent_writes
        self.clock = clock
        self.held_entries = held_entries
        # (user, story) -> (deadline, liked, favorited): for readers who wrote nothing
        # lately (server/recent_writes.py), at most HOLD_S old; the oldest goes first.
        self._held: dict[tuple[str, str], tuple[float, bool, bool]] = {}

    async def _set(
        self, principal: Principal, story_id: str, kind: EngagementKind, on: bool
    ) -> tuple[bool, int]:
        """Like/favourite on or off; idempotent, counters move only on a real change.

        The count answered is the marks counted after this request's own write, not the
        story's counter: a request that changed nothing (a double tap) may run while
        the one that did has written its mark but not yet moved the counter, and would
        answer a count without it (``liked: true, likes: 0``). Every completed mark is
        in the count, this user's own first.
        """
        await self.feed.get_public(story_id)
        changed = (
            await self.repo.add(kind, story_id, principal.user_id, self.clock.now())
            if on
            else await self.repo.remove(kind, story_id, principal.user_id)
        )
        if changed:
            await self.repo.bump_stat(story_id, kind, 1 if on else -1)
        count = await self.repo.count(kind, story_id)
        # Also when nothing changed: the tap that did may not have stamped yet.
        await self.recent_writes.stamp(principal.user_id)
        return on, count

    async def like(self, principal: Principal, story_id: str, on: bool) -> LikeOut:
        liked, likes = await self._set(principal, story_id, "likes", on)
        return LikeOut(liked=liked, likes=likes)

    async def favorite(self, principal: Principal, story_id: str, on: bool) -> FavoriteOut:
        favorited, count = await self._set(principal, story_id, "favorites", on)
        return FavoriteOut(favorited=favorited, favorites=count)

    async def flags(self, user_id: str, story_id: str) -> tuple[bool, bool]:
        """Whether the user likes and has favourited the story (read now)."""
        liked = await self.repo.has("likes", story_id, user_id)
        favorited = await self.repo.has("favorites", story_id, user_id)
        return liked, favorited

    async def held_flags(self, user_id: str, story_id: str) -> tuple[bool, bool]:
        """``flags`` at most ``HOLD_S`` old: only for a reader who wrote nothing lately."""
        key = (user_id, story_id)
        held = self._held.get(key)
        now = self.clock.monotonic()
        if held is not None and held[0] > now:
            return held[1], held[2]
        liked, favorited = await self.flags(user_id, story_id)  # the deadline counts from before
        if len(self._held) >= self.held_entries:
            self._held.pop(next(iter(self._held)))
        self._held.pop(key, None)
        self._held[key] = (now + HOLD_S, liked, favorited)
        return liked, favorited

    async def favorites_page(self, principal: Principal, query: PageQuery) -> StoryPage:
        """My favourites, newest first (stories no longer public are left out)."""
        position = FAVORITES.decode(query.cursor)
        marks = await self.repo.favorites_page(principal.user_id, position, query.limit + 1)
        marks, next_cursor = FAVORITES.page(marks, query.limit)
        docs = await self.feed.public_many([mark["story_id"] for mark in marks])
        return StoryPage(items=await self.feed.summaries(docs), next_cursor=next_cursor)

    # -- counters --------------------------------------------------------------------

    async def counters(self, story_ids: list[str]) -> dict[str, dict[str, int]]:
        """The stories' counters as MongoDB holds them now (one query), by id, every
        field of ``StoryStats`` present."""
        found = await self.repo.stats_of(story_ids)
        return {sid: StoryStats(**stats).model_dump() for sid, stats in found.items()}

    def record_view(self, story_id: str) -> None:
        """One view of a (public, existing) story: counted in the process."""
        self.views.record(story_id)

    async def store_views(self) -> int:
        """Worker: move the views counted in Redis into the stories; how many."""
        return await self.views.drain(self.repo.add_views)

    async def most_read(self, days: int = 7, limit: int = 10) -> tuple[date, date, list[MostRead]]:
        """The stories most read in the last ``days`` Shanghai days (today included), most
        first: the first and last day, and the stories (two queries)."""
        last = self.clock.today()
        first = last - timedelta(days=days - 1)
        ranked = await self.repo.most_read(first.isoformat(), last.isoformat(), limit)
        found = await self.repo.titles_and_stats([story_id for story_id, _ in ranked])
        items = [
            MostRead(
                story_id=story_id,
                title=found[story_id].get("title", ""),
                status=found[story_id].get("status", ""),
                views=views,
                total_views=int(found[story_id].get("stats", {}).get("views", 0)),
            )
            for story_id, views in ranked
            if story_id in found
        ]
        return first, last, items

    async def add_demo_views(self, story_id: str, by_day: dict[date, int]) -> bool:
        """Demo readers (``python -m server seed``): the story's views of these days,
        once (False: it has daily views already, so nothing is added)."""
        if await self.repo.has_daily_views(story_id):
            return False
        views = {story_id: {day.isoformat(): count for day, count in by_day.items() if count}}
        await self.repo.add_views(f"demo:{story_id}", views)
        return True

    async def count_comments(self, story_id: str, delta: int) -> None:
        """An approved comment appeared (+1) or went (-1)."""
        await self.repo.bump_stat(story_id, "comments", delta)

    # -- personal data (server.privacy) ----------------------------------------------

    async def export_personal_data(self, user_id: str) -> Any:
        return {
            kind: [
                {"story_id": m["story_id"], "at": m["at"].isoformat()}
                for m in await self.repo.of_user(kind, user_id)
            ]
            for kind in ("likes", "favorites")
        }

    async def erase_personal_data(self, user_id: str) -> None:
        for kind in ("likes", "favorites"):
            while marks := await self.repo.of_user(kind, user_id, limit=500):
                for mark in marks:
                    if await self.repo.remove(kind, mark["story_id"], user_id):
                        await self.repo.bump_stat(mark["story_id"], kind, -1)
