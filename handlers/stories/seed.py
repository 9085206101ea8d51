"""Demo content for development: the people the city's decision names and a dozen
original demo stories (clearly marked), read from the demo data directory, with the
covers and portraits that ``python -m tools.demo_art`` drew, and two weeks of demo
readers (views per day, for the dashboard's "most read"). Idempotent: what already
exists (by name / by title, a story's daily views) is left alone."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from handlers.media.service import MediaService
from handlers.stories.demo import DemoArt, DemoContent
from handlers.stories.editorial import EditorialService
from handlers.stories.engagement import EngagementService
from handlers.stories.people import PeopleService
from server.principal import Principal

VIEW_DAYS = 14


@dataclass(frozen=True, slots=True)
class SeedResult:
    people: int
    stories: int


async def seed_demo_content(
    people: PeopleService,
    stories: EditorialService,
    media: MediaService,
    editor: Principal,
    reviewer: Principal,
    *,
    content: DemoContent,
    art: DemoArt,
) -> SeedResult:
    """Create what is missing; returns how many people and stories were created."""
    person_ids: dict[str, str] = {}
    created_people = 0
    for person in content.people:
        existing = await people.find_by_name(person.name)
        if existing is None:
            portrait = await media.upload(editor.user_id, art.portraits[person.key], "story")
            existing = await people.create(
                editor,
                {
                    "name": person.name,
                    "honours": [{"name": n, "year": y} for n, y in person.honours],
                    "workplace": person.workplace,
                    "bio": person.bio,
                    "portrait_media_id": str(portrait["_id"]),
                    "tags": list(person.tags),
                },
            )
            created_people += 1
        person_ids[person.key] = str(existing["_id"])

    titles = await stories.titles()
    created_stories = 0
    for story in content.stories:
        if story.title in titles:
            continue
        cover = await media.upload(editor.user_id, art.covers[story.key], "story")
        doc = await stories.create(
            editor,
            {
                "title": story.title,
                "summary": story.summary,
                "body_markdown": story.body_markdown,
                "cover_media_id": str(cover["_id"]),
                "category": story.category,
                "tags": list(story.tags),
                "person_ids": [person_ids[key] for key in story.person_keys],
                "pinned": story.pinned,
            },
        )
        story_id = str(doc["_id"])
        submitted = await stories.submit(editor, story_id)
        await stories.publish(reviewer, story_id, submitted["revision"])
        created_stories += 1
    return SeedResult(people=created_people, stories=created_stories)


async def seed_demo_views(
    stories: EditorialService, engagement: EngagementService, content: DemoContent, today: date
) -> int:
    """Views per day of the last ``VIEW_DAYS`` days for each demo story that has none:
    made up, the same for a story every time (its ``cover_seed``), the pinned ones read
    more. How many stories got them."""
    ids = await stories.ids_by_title([story.title for story in content.stories])
    seeded = 0
    for story in content.stories:
        story_id = ids.get(story.title)
        if story_id is None:
            continue
        rnd = random.Random(story.cover_seed)  # noqa: S311 (made-up numbers, not a secret)
        base = rnd.randint(4, 40) * (3 if story.pinned else 1)
        by_day = {
            today - timedelta(days=ago): max(0, round(base * rnd.uniform(0.3, 1.6)))
            for ago in range(VIEW_DAYS)
        }
        if await engagement.add_demo_views(story_id, by_day):
            seeded += 1
    return seeded
