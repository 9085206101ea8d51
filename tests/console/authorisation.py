"""The console in the authorisation matrix: every page and form, asked as a browser asks
them (tests/test_authorisation_matrix.py adds the session cookie and the CSRF token).
Stories are the stories room's factory's."""

from __future__ import annotations

import io

import aiohttp

from tests.fixtures.authorisation import Call, Case, builds, plain
from tests.media.authorisation import PHOTO

STORY = "/admin/stories/{story_id}"

plain(
    ("GET", "/admin"),
    ("GET", "/admin/"),
    ("GET", "/admin/login"),
    ("GET", "/admin/stories"),
    ("GET", "/admin/stories/new"),
    ("GET", "/admin/review"),
    ("GET", STORY + "/edit"),
)
plain(("GET", STORY + "/review"), states={"story_id": "in_review"})
plain(("POST", STORY + "/submit"), states={"story_id": "draft"})
plain(("POST", "/admin/logout"), caller="fresh_session")


@builds("GET", "/static/console/{name}")
async def static_file(case: Case) -> Call:
    return Call(path={"name": "console.css"})


@builds("POST", "/admin/login")
async def login(case: Case) -> Call:
    staff = case.world.callers["editor"]
    return Call(data={"username": staff.username, "password": staff.password})


@builds("POST", "/admin/stories/new")
async def create_story(case: Case) -> Call:
    return Call(data={"title": "矩阵稿件", "category": "policy", "action": "save"})


@builds("POST", STORY + "/edit", states={"story_id": "draft"})
async def update_story(case: Case) -> Call:
    revision = case.objects["story_id"].revision
    return Call(data={"revision": revision, "title": "矩阵稿件", "category": "policy",
                      "action": "save"})  # fmt: skip


@builds("POST", "/admin/stories/preview")
async def preview(case: Case) -> Call:
    return Call(data={"body_markdown": "**劳模**"})


@builds("POST", STORY + "/publish", states={"story_id": "in_review"})
async def publish(case: Case) -> Call:
    return Call(data={"revision": case.objects["story_id"].revision})


@builds("POST", STORY + "/reject", states={"story_id": "in_review"})
async def reject(case: Case) -> Call:
    return Call(data={"reason": "请补充事迹"})


@builds("POST", STORY + "/cover", states={"story_id": "draft"})
async def upload_cover(case: Case) -> Call:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(PHOTO), filename="cover.jpg", content_type="image/jpeg")
    return Call(data=form, query={"revision": str(case.objects["story_id"].revision)})


from tests.console import authorisation_organizers  # noqa: E402, F401
