"""People (人物) for editors: the list (found by name or pinyin), a new person, a
person's profile with its portrait through the media pipeline.

Through the stories room's ``PeopleService`` with the signed-in editor's ``Principal``,
every form validated by the API's own models (``PersonIn``, ``PersonPatch``,
``PeopleQuery``), the portrait checked by the same rules as the API's
(``portrait_media_id``: a story photo of the editor's own, public).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from handlers.console.keys import CONSOLE_PAGES
from handlers.console.pages import see_other, set_back
from handlers.console.stories import (
    EDITORS,
    FORM_KEY,
    UPLOAD_ERRORS,
    field_errors,
    new_form_key,
    once,
    split_tags,
    upload_photo,
)
from handlers.stories.keys import PEOPLE_SERVICE
from handlers.stories.schemas import PeopleQuery, PersonIn, PersonOut, PersonPatch
from server.access import current_principal
from server.api import CONSOLE_PREFIX, ApiRoutes
from server.ids import path_object_id
from server.rest import read_query

routes = ApiRoutes(prefix=CONSOLE_PREFIX, tag="console", html=True)

PEOPLE = CONSOLE_PREFIX + "/people"
PERSON = EDITORS.on("person_id", "person")
LABELS = {
    "name": "姓名",
    "honours": "荣誉",
    "workplace": "工作单位",
    "bio": "简介",
    "tags": "标签",
    "portrait_media_id": "照片",
}
# "全国劳动模范 2015", "全国五一劳动奖章，2019年": the year, if any, ends the line.
_HONOUR_YEAR = re.compile(r"^(?P<name>.*?)[\s,，、]+(?P<year>\d{4})\s*年?$")
HONOURS_MAX_LINES = 100  # more is refused by the model (20) without reading them all


def parse_honours(text: str) -> list[dict[str, Any]]:
    """One honour a line, its year at the end if given."""
    honours: list[dict[str, Any]] = []
    for line in text.splitlines()[:HONOURS_MAX_LINES]:
        line = line.strip()
        if not line:
            continue
        found = _HONOUR_YEAR.match(line)
        if found and found.group("name").strip():
            honours.append({"name": found.group("name").strip(), "year": int(found["year"])})
        else:
            honours.append({"name": line, "year": None})
    return honours


def honours_text(honours: list[dict[str, Any]]) -> str:
    """The honours as the form shows them: one a line, the year at its end."""
    return "\n".join(f"{h['name']} {h['year']}" if h.get("year") else h["name"] for h in honours)


def _person_fields(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The profile form as the API's body would carry it."""
    return {
        "name": str(form.get("name", "")),
        "honours": parse_honours(str(form.get("honours", ""))),
        "workplace": str(form.get("workplace", "")).strip() or None,
        "bio": str(form.get("bio", "")).replace("\r\n", "\n"),
        "tags": split_tags(form.get("tags")),
    }


def _fields_of(person: PersonOut) -> dict[str, Any]:
    return {
        "name": person.name,
        "honours": [h.model_dump() for h in person.honours],
        "workplace": person.workplace,
        "bio": person.bio,
        "tags": person.tags,
    }


def _form(
    request: web.Request,
    *,
    person: PersonOut | None,
    fields: dict[str, Any],
    honours: str | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    form_key: str = "",
    status: int = 200,
) -> web.Response:
    context = {
        "person": person,
        "fields": fields,
        "honours": honours_text(fields["honours"]) if honours is None else honours,
        "errors": errors or {},
        "notice": notice,
        "form_key": form_key or new_form_key(),
    }
    return request.app[CONSOLE_PAGES].render(request, "people/edit.html", context, status=status)


@routes.get("/people", "People (劳模工匠): found by name or pinyin (q=), by honour (honor=)",
            access=EDITORS)  # fmt: skip
async def people_list(request: web.Request) -> web.Response:
    query = read_query(request, PeopleQuery)
    page = await request.app[PEOPLE_SERVICE].page(query.honor, query.q, query)
    context = {"page": page, "q": query.q or "", "honor": query.honor or ""}
    return request.app[CONSOLE_PAGES].render(request, "people/list.html", context)


@routes.get("/people/new", "The form for a new person", access=EDITORS)
async def new_person_page(request: web.Request) -> web.Response:
    fields: dict[str, Any] = {"name": "", "honours": [], "workplace": None, "bio": "", "tags": []}
    return _form(request, person=None, fields=fields)


@routes.post("/people/new", "Create a person (sent twice, one person)", access=EDITORS,
             status=303, errors=("csrf_invalid",))  # fmt: skip
async def create_person(request: web.Request) -> web.Response:
    set_back(request, PEOPLE + "/new")
    form = await request.post()
    fields = _person_fields(form)
    again: dict[str, Any] = {"person": None, "fields": fields,
                             "honours": str(form.get("honours", "")),
                             "form_key": str(form.get(FORM_KEY, ""))}  # fmt: skip
    try:
        body = PersonIn.model_validate(fields)
    except ValidationError as exc:
        return _form(request, **again, errors=field_errors(exc, LABELS), status=422)

    async def create() -> web.Response:
        people = request.app[PEOPLE_SERVICE]
        doc = await people.create(current_principal(request), body.model_dump())
        return see_other(f"{PEOPLE}/{doc['_id']}/edit?saved=1")

    return await once(request, form, create)


@routes.get("/people/{person_id}/edit", "A person's profile, to edit", access=PERSON)
async def edit_person_page(request: web.Request) -> web.Response:
    people = request.app[PEOPLE_SERVICE]
    person = await people.out(await people.get(path_object_id(request, "person_id")))
    notice = {"1": "已保存", "portrait": "照片已更新"}.get(request.query.get("saved", ""), "")
    return _form(request, person=person, fields=_fields_of(person), notice=notice)


@routes.post("/people/{person_id}/edit", "Save a person's profile (remove_portrait=on "
             "takes the photo off)", access=PERSON, status=303,
             errors=("csrf_invalid",))  # fmt: skip
async def update_person(request: web.Request) -> web.Response:
    person_id = path_object_id(request, "person_id")
    set_back(request, f"{PEOPLE}/{person_id}/edit")
    people = request.app[PEOPLE_SERVICE]
    current = await people.out(await people.get(person_id))  # 404 before anything else
    form = await request.post()
    fields = _person_fields(form)
    changes = {**fields, **({"portrait_media_id": None} if form.get("remove_portrait") else {})}
    try:
        body = PersonPatch.model_validate(changes)
    except ValidationError as exc:
        return _form(request, person=current, fields=fields, honours=str(form.get("honours", "")),
                     errors=field_errors(exc, LABELS), status=422)  # fmt: skip
    await people.update(
        current_principal(request), person_id, body.model_dump(include=body.model_fields_set)
    )
    return see_other(f"{PEOPLE}/{person_id}/edit?saved=1")


@routes.post(
    "/people/{person_id}/portrait",
    "Upload a person's photo through the media pipeline (the API's limits; multipart, "
    "the CSRF token in the query)",
    access=PERSON,
    status=303,
    errors=tuple(code for code in UPLOAD_ERRORS if code != "revision_conflict"),
)
async def upload_portrait(request: web.Request) -> web.Response:
    person_id = path_object_id(request, "person_id")
    set_back(request, f"{PEOPLE}/{person_id}/edit")
    people = request.app[PEOPLE_SERVICE]
    await people.get(person_id)  # 404 before a byte of the photo is read
    photo = await upload_photo(request)
    await people.update(current_principal(request), person_id, {"portrait_media_id": photo.id})
    return see_other(f"{PEOPLE}/{person_id}/edit?saved=portrait")
