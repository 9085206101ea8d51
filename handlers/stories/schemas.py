"""The stories room's edge: people (劳模工匠), stories, workflow and engagement models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from handlers.media.schemas import MediaOut
from server.ids import ObjectIdText
from server.paging import Page, PageQuery
from server.rest import ApiIn, ApiOut, patch_field

Category = Literal["model_worker", "craftsman", "frontline_worker", "team", "policy"]
Status = Literal["draft", "in_review", "scheduled", "published", "unpublished"]
Tag = Field(min_length=1, max_length=16)


class HonourIn(ApiIn):
    name: str = Field(min_length=1, max_length=32)
    year: int | None = Field(None, ge=1950, le=2100)


class HonourOut(ApiOut):
    name: str
    year: int | None = None


class PersonIn(ApiIn):
    name: str = Field(min_length=1, max_length=32)
    honours: list[HonourIn] = Field(default_factory=list, max_length=20)
    workplace: str | None = Field(None, max_length=64)
    bio: str = Field("", max_length=500)
    portrait_media_id: str | None = Field(None, min_length=1, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=10)


class PersonPatch(ApiIn):
    name: str = patch_field(min_length=1, max_length=32)
    honours: list[HonourIn] = patch_field(max_length=20)
    workplace: str | None = Field(None, max_length=64)
    bio: str = patch_field(max_length=500)
    portrait_media_id: str | None = Field(None, min_length=1, max_length=64)
    tags: list[str] = patch_field(max_length=10)


class PersonRef(ApiOut):
    id: str
    name: str
    honours: list[HonourOut]


class StoryStats(ApiOut):
    views: int = 0
    likes: int = 0
    favorites: int = 0
    comments: int = 0


class StorySummary(ApiOut):
    id: str
    title: str
    summary: str
    cover: MediaOut | None
    category: Category
    tags: list[str]
    people: list[PersonRef]
    pinned: bool
    published_at: datetime | None
    stats: StoryStats


class StoryOut(StorySummary):
    body_markdown: str
    body_html: str
    gallery: list[MediaOut]
    status: Status
    liked: bool = False
    favorited: bool = False


DraftStatus = Literal["none", "draft", "submitted", "rejected"]


class AdminStoryOut(StoryOut):
    """A story as its editors work on it: for a public story with a pending revision,
    the content fields are that revision's (the public still reads the reviewed one,
    ``published_revision``)."""

    revision: int = Field(
        description="The story's revision: PATCH and publish carry the one last seen"
    )
    draft_status: DraftStatus = Field(
        description="The pending revision of a published or scheduled story: none, draft "
        "(being edited), submitted (awaiting a reviewer), rejected (see reject_reason)"
    )
    published_revision: int | None = Field(
        description="The revision the public reads (for a scheduled story: will read); "
        "null while nothing is public. Its content is in the revision history"
    )
    author_id: str
    editor_ids: list[str] = Field(
        description="Who wrote what awaits review; none of them may publish it (four eyes)"
    )
    reject_reason: str | None = None
    created_at: datetime
    updated_at: datetime


class PersonOut(ApiOut):
    id: str
    name: str
    pinyin: str
    honours: list[HonourOut]
    workplace: str | None
    bio: str
    portrait: MediaOut | None
    tags: list[str]


class PersonDetailOut(PersonOut):
    stories: list[StorySummary]


class StoryIn(ApiIn):
    title: str = Field(min_length=1, max_length=80)
    summary: str = Field("", max_length=200)
    body_markdown: str = Field("", max_length=20_000)
    cover_media_id: str | None = Field(None, min_length=1, max_length=64)
    gallery_media_ids: list[str] = Field(default_factory=list, max_length=9)
    category: Category
    tags: list[str] = Field(default_factory=list, max_length=8)
    person_ids: list[ObjectIdText] = Field(default_factory=list, max_length=10)
    pinned: bool = False


class StoryPatch(ApiIn):
    """Only the fields sent change; ``revision`` is the one the editor last saw."""

    revision: int = Field(ge=1)
    title: str = patch_field(min_length=1, max_length=80)
    summary: str = patch_field(max_length=200)
    body_markdown: str = patch_field(max_length=20_000)
    cover_media_id: str | None = Field(None, min_length=1, max_length=64)
    gallery_media_ids: list[str] = patch_field(max_length=9)
    category: Category = patch_field()
    tags: list[str] = patch_field(max_length=8)
    person_ids: list[ObjectIdText] = patch_field(max_length=10)
    pinned: bool = patch_field()


class PublishIn(ApiIn):
    revision: int = Field(
        ge=1,
        description="The revision the reviewer saw; changed since: 409 revision_conflict",
    )
    publish_at: AwareDatetime | None = Field(
        None,
        description="Publish later (scheduled); only for a story not yet public, a "
        "revision of a public one is published at once",
    )


class RejectIn(ApiIn):
    reason: str = Field(min_length=1, max_length=200)


class StoryListQuery(PageQuery):
    category: Category | None = None
    tag: str | None = Field(None, min_length=1, max_length=16)
    person_id: ObjectIdText | None = None
    q: str | None = Field(None, min_length=1, max_length=50)


class AdminStoryListQuery(PageQuery):
    status: Status | None = None
    draft_status: Literal["draft", "submitted", "rejected"] | None = Field(
        None, description="Public stories whose pending revision is in this state"
    )


class PeopleQuery(PageQuery):
    honor: str | None = Field(None, min_length=1, max_length=32)
    q: str | None = Field(None, min_length=1, max_length=50)


class StoryPage(Page[StorySummary]):
    pass


class AdminStoryPage(Page[AdminStoryOut]):
    pass


class PersonPage(Page[PersonOut]):
    pass


class RevisionOut(ApiOut):
    revision: int
    by: str
    at: datetime
    action: str
    title: str
    summary: str
    body_markdown: str


class RevisionList(ApiOut):
    items: list[RevisionOut]


class LikeOut(ApiOut):
    liked: bool
    likes: int


class FavoriteOut(ApiOut):
    favorited: bool
    favorites: int


class CommentIn(ApiIn):
    text: str = Field(min_length=1, max_length=500)


class CommentAuthor(ApiOut):
    id: str
    nickname: str


class CommentOut(ApiOut):
    id: str
    story_id: str
    text: str
    status: Literal["approved", "pending", "rejected"]
    author: CommentAuthor
    created_at: datetime


class CommentPage(Page[CommentOut]):
    pass
