"""劳模工匠 stories and people: editorial workflow, feed and search, engagement, comments."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiohttp import web

from handlers.auth.keys import AUTH_SERVICE
from handlers.media.keys import MEDIA_SERVICE
from handlers.stories.comments import CommentService, ContentRejected, OwnCommentModeration
from handlers.stories.counters import LiveCounters
from handlers.stories.demo import load_demo_art, load_demo_content
from handlers.stories.editorial import (
    EditorialService,
    InvalidTransition,
    OwnStoryPublish,
    PersonNotFound,
    RevisionConflict,
)
from handlers.stories.engagement import EngagementService
from handlers.stories.feed import FeedService
from handlers.stories.keys import (
    COMMENT_SERVICE,
    EDITORIAL_SERVICE,
    ENGAGEMENT_SERVICE,
    FEED_SERVICE,
    PEOPLE_SERVICE,
    STORY_CACHE,
    STORY_COUNTERS,
)
from handlers.stories.people import PeopleService
from handlers.stories.repo import CommentRepo, EngagementRepo, FeedRepo, PeopleRepo, StoryRepo
from handlers.stories.routes import routes
from handlers.stories.seed import seed_demo_content, seed_demo_views
from handlers.stories.views import ViewCounter
from server.cache import VersionedCache
from server.keys import (
    CLOCK,
    DEGRADE,
    JOBS,
    METRICS,
    MONGO_DB,
    RATE_LIMITER,
    RECENT_WRITES,
    REDIS,
    SETTINGS,
    WECHAT,
)
from server.privacy import PersonalDataProvider
from server.room import Cron, Database, DemoSource, Room, SeedWriter


@dataclass(frozen=True, slots=True)
class StoryServices:
    cache: VersionedCache
    counters: LiveCounters
    views: ViewCounter
    people: PeopleService
    feed: FeedService
    editorial: EditorialService
    engagement: EngagementService
    comments: CommentService


def build_services(app: web.Application) -> StoryServices:
    """The room's services over the app's shared resources (neither started nor stored:
    ``setup`` does that; tests build their own to call without HTTP)."""
    db, clock, media = app[MONGO_DB], app[CLOCK], app[MEDIA_SERVICE]
    cache = VersionedCache(
        "stories",
        app[REDIS],
        app[METRICS],
        app[DEGRADE],
        clock,
        app[SETTINGS].feed_cache_ttl_s,
        label="feed",
    )
    views = ViewCounter(app[REDIS], app[DEGRADE], clock)
    people = PeopleService(PeopleRepo(db), media, cache, clock)
    feed = FeedService(FeedRepo(db), people, media, clock)
    editorial = EditorialService(
        app[SETTINGS], StoryRepo(db), people, media, feed, cache, app[JOBS], app[DEGRADE], clock
    )
    engagement = EngagementService(EngagementRepo(db), feed, views, app[RECENT_WRITES], clock)
    comments = CommentService(
        CommentRepo(db), feed, engagement, app[AUTH_SERVICE], app[WECHAT], app[RATE_LIMITER], clock
    )
    counters = LiveCounters(engagement, app[DEGRADE], clock, app[SETTINGS].feed_counters_ttl_s)
    return StoryServices(cache, counters, views, people, feed, editorial, engagement, comments)


@contextlib.asynccontextmanager
async def setup(app: web.Application) -> AsyncIterator[None]:
    services = build_services(app)
    app[STORY_CACHE] = services.cache
    app[STORY_COUNTERS] = services.counters
    app[PEOPLE_SERVICE] = services.people
    app[FEED_SERVICE] = services.feed
    app[EDITORIAL_SERVICE] = services.editorial
    app[ENGAGEMENT_SERVICE] = services.engagement
    app[COMMENT_SERVICE] = services.comments
    await services.cache.start()
    services.views.start()
    try:
        yield
    finally:
        await services.views.stop()
        await services.cache.stop()


async def ensure_indexes(db: Database) -> None:
    await PeopleRepo(db).ensure_indexes()
    await StoryRepo(db).ensure_indexes()  # the stories collection's, for FeedRepo too
    await EngagementRepo(db).ensure_indexes()
    await CommentRepo(db).ensure_indexes()


def privacy(app: web.Application) -> Sequence[PersonalDataProvider]:
    return (app[ENGAGEMENT_SERVICE], app[COMMENT_SERVICE])


async def publish_due_story(app: web.Application, story_id: str) -> bool:
    """Queued for a scheduled story's ``publish_at``: publish it, on time."""
    return await app[EDITORIAL_SERVICE].publish_due(story_id)


async def publish_due_stories(app: web.Application) -> int:
    """The same for any scheduled story whose job was lost (every minute)."""
    return await app[EDITORIAL_SERVICE].publish_due_stories()


async def store_story_views(app: web.Application) -> int:
    """View counts from Redis into MongoDB (every 10 s)."""
    return await app[ENGAGEMENT_SERVICE].store_views()


def seed(source: DemoSource) -> SeedWriter:
    """The people and demo stories of ``source.data``, with their art (checked first)."""
    content = load_demo_content(source.data)
    art = load_demo_art(content, source.art, source.data)

    async def write(app: web.Application) -> str:
        auth = app[AUTH_SERVICE]
        result = await seed_demo_content(
            app[PEOPLE_SERVICE],
            app[EDITORIAL_SERVICE],
            app[MEDIA_SERVICE],
            editor=await auth.demo_staff("editor"),
            reviewer=await auth.demo_staff("reviewer"),
            content=content,
            art=art,
        )
        viewed = await seed_demo_views(
            app[EDITORIAL_SERVICE], app[ENGAGEMENT_SERVICE], content, app[CLOCK].today()
        )
        return (
            f"demo content: {result.people} people and {result.stories} stories created, "
            f"views of {viewed} stories"
        )

    return write


ROOM = Room(
    name="stories",
    routes=(routes,),
    setup=setup,
    indexes=ensure_indexes,
    privacy=privacy,
    jobs=(publish_due_story,),
    crons=(
        Cron(publish_due_stories, second=30),
        Cron(store_story_views, second=set(range(5, 60, 10))),
    ),
    seed=seed,
    errors=(
        RevisionConflict,
        InvalidTransition,
        OwnStoryPublish,
        PersonNotFound,
        ContentRejected,
        OwnCommentModeration,
    ),
)
