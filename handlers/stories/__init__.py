"""劳模工匠 stories and people: editorial workflow, feed and search, engagement, comments."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from handlers.auth.keys import AUTH_SERVICE
from handlers.media.keys import MEDIA_SERVICE
from handlers.stories.cache import FeedCache
from handlers.stories.comments import CommentService, ContentRejected
from handlers.stories.demo import load_demo_art, load_demo_content
from handlers.stories.keys import COMMENT_SERVICE, PEOPLE_SERVICE, STORY_SERVICE
from handlers.stories.repo import CommentRepo, EngagementRepo, PeopleRepo, StoryRepo
from handlers.stories.routes import routes
from handlers.stories.seed import seed_demo_content
from handlers.stories.service import (
    InvalidTransition,
    OwnStoryPublish,
    PeopleService,
    PersonNotFound,
    RevisionConflict,
    StoryService,
)
from handlers.stories.views import ViewCounter
from server.keys import (
    DEGRADE,
    JOBS,
    METRICS,
    MONGO_DB,
    RATE_LIMITER,
    REDIS,
    SETTINGS,
    WECHAT,
)
from server.principal import Principal
from server.privacy import PersonalDataProvider
from server.room import Cron, Database, DemoSource, Room, SeedWriter


@contextlib.asynccontextmanager
async def setup(app: web.Application) -> AsyncIterator[None]:
    db = app[MONGO_DB]
    settings = app[SETTINGS]
    media = app[MEDIA_SERVICE]
    feed_cache = FeedCache(app[REDIS], app[METRICS], app[DEGRADE], settings.feed_cache_ttl_s)
    views = ViewCounter(app[REDIS], app[DEGRADE])
    people = PeopleService(PeopleRepo(db), media, feed_cache)
    stories = StoryService(
        settings,
        StoryRepo(db),
        EngagementRepo(db),
        people,
        media,
        feed_cache,
        views,
        app[JOBS],
        app[DEGRADE],
    )
    app[PEOPLE_SERVICE] = people
    app[STORY_SERVICE] = stories
    app[COMMENT_SERVICE] = CommentService(
        CommentRepo(db), stories, app[AUTH_SERVICE], app[WECHAT], app[RATE_LIMITER]
    )
    await feed_cache.start()
    views.start()
    try:
        yield
    finally:
        await views.stop()
        await feed_cache.stop()


async def ensure_indexes(db: Database) -> None:
    await PeopleRepo(db).ensure_indexes()
    await StoryRepo(db).ensure_indexes()
    await EngagementRepo(db).ensure_indexes()
    await CommentRepo(db).ensure_indexes()


def privacy(app: web.Application) -> Sequence[PersonalDataProvider]:
    return (app[STORY_SERVICE], app[COMMENT_SERVICE])


async def publish_due_story(app: web.Application, story_id: str) -> bool:
    """Queued for a scheduled story's ``publish_at``: publish it, on time."""
    return await app[STORY_SERVICE].publish_due(story_id)


async def publish_due_stories(app: web.Application) -> int:
    """The same for any scheduled story whose job was lost (every minute)."""
    return await app[STORY_SERVICE].publish_due_stories()


async def store_story_views(app: web.Application) -> int:
    """View counts from Redis into MongoDB (every 10 s)."""
    return await app[STORY_SERVICE].store_views()


def seed(source: DemoSource) -> SeedWriter:
    """The people and demo stories of ``source.data``, with their art (checked first)."""
    content = load_demo_content(source.data)
    art = load_demo_art(content, source.art, source.data)

    async def write(app: web.Application) -> str:
        auth = app[AUTH_SERVICE]

        async def staff(username: str) -> Principal:  # made by the auth room's seed
            user = await auth.get_staff_user(username)
            return Principal(user.id, "seed", frozenset(user.roles), "seed")

        result = await seed_demo_content(
            app[PEOPLE_SERVICE],
            app[STORY_SERVICE],
            app[MEDIA_SERVICE],
            editor=await staff("editor"),
            reviewer=await staff("reviewer"),
            content=content,
            art=art,
        )
        return f"demo content: {result.people} people and {result.stories} stories created"

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
    errors=(RevisionConflict, InvalidTransition, OwnStoryPublish, PersonNotFound, ContentRejected),
)
