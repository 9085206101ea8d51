"""Helpers of the stories tests: staff accounts, drafting and publishing through HTTP, the
stories services for calling without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.stories import StoryServices, build_services
from handlers.stories.keys import (
    COMMENT_SERVICE,
    EDITORIAL_SERVICE,
    ENGAGEMENT_SERVICE,
    FEED_SERVICE,
    PEOPLE_SERVICE,
    STORY_CACHE,
    STORY_COUNTERS,
)
from server.principal import Principal, Role
from tests.fixtures.app import Client
from tests.fixtures.sessions import Session, sign_in_staff


@pytest.fixture
async def staff(client: Client) -> dict[str, Session]:
    return {
        "editor": await sign_in_staff(client, "editor1", Role.editor),
        "editor2": await sign_in_staff(client, "editor2", Role.editor),
        "reviewer": await sign_in_staff(client, "reviewer1", Role.reviewer),
        "admin": await sign_in_staff(client, "admin1", Role.admin),
    }


async def create_story(client: Client, editor: Session, **fields: Any) -> dict[str, Any]:
    body = {"title": "一线故事", "category": "frontline_worker", **fields}
    resp = await client.post("/api/v1/admin/stories", json=body, headers=editor.headers)
    assert resp.status == 201, await resp.text()
    story: dict[str, Any] = await resp.json()
    return story


async def publish(
    client: Client, staff: dict[str, Session], story_id: str, **body: Any
) -> dict[str, Any]:
    submit = await client.post(
        f"/api/v1/admin/stories/{story_id}/submit", headers=staff["editor"].headers
    )
    assert submit.status == 200, await submit.text()
    seen = (await submit.json())["revision"]  # what the reviewer publishes
    resp = await client.post(
        f"/api/v1/admin/stories/{story_id}/publish",
        json={"revision": seen, **body},
        headers=staff["reviewer"].headers,
    )
    assert resp.status == 200, await resp.text()
    published: dict[str, Any] = await resp.json()
    return published


def as_principal(session: Session, *roles: Role) -> Principal:
    """The principal a signed-in session's requests carry, for calling services directly."""
    return Principal(session.user_id, "test-session", frozenset(roles), "test-token")


@pytest.fixture
def app_services(client: Client) -> StoryServices:
    """The test app's own stories services (what its routes use)."""
    app = client.app
    engagement = app[ENGAGEMENT_SERVICE]
    return StoryServices(
        cache=app[STORY_CACHE],
        counters=app[STORY_COUNTERS],
        views=engagement.views,
        people=app[PEOPLE_SERVICE],
        feed=app[FEED_SERVICE],
        editorial=app[EDITORIAL_SERVICE],
        engagement=engagement,
        comments=app[COMMENT_SERVICE],
    )


@pytest.fixture
def services(client: Client) -> StoryServices:
    """Stories services built afresh from the test app's resources (its database, Redis,
    clock, media and auth services), to be called without HTTP."""
    return build_services(client.app)
