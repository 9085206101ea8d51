"""The authorisation matrix, generated from the app's route table.

Every route (``/api/v1`` and outside it: ``/media/...``, ``/healthz``, ``/readyz``,
``/metrics``, ``/openapi.json``, ``/docs`` and its assets) x every caller (anonymous and
one account per role) x, where the route's ``Access`` names objects, "all my own" and
"this one someone else's" -> the status (and error code) its declaration promises
(``Access.expected``), asked of the real app with real tokens and real objects made per
case by the kinds' factories. Rooms plug in with ``tests/<room>/authorisation.py``
(tests/fixtures/authorisation.py says how); a route without a declaration cannot be
registered, one added to the router by hand fails ``test_every_route_declares_access``,
and one without a request builder fails its cases.

Sign-ins are shared by the module (one event loop for the module); objects that a
route changes are made per case.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from aiohttp import web

from server.api import ApiRoutes, RouteMeta, UndeclaredAccess, route_meta
from server.app import create_app
from server.authorisation import Access, Whose
from server.keys import ROOMS
from server.openapi import build_openapi
from server.principal import Role
from server.rest import respond
from tests.fixtures.app import make_settings
from tests.fixtures.authorisation import (
    ANONYMOUS,
    BUILDERS,
    ROLES,
    Case,
    RouteCase,
    World,
    open_world,
)
from tests.fixtures.errors import assert_error

# ``{name}`` or ``{name:regex}``, whose regex may hold ``{n}`` (server/api.py, router_path)
_PATH_PARAM = re.compile(r"\{([^{}:]+)(?::(?:[^{}]|\{[^{}]*\})*)?\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    meta: RouteMeta
    room: str


def _table_app() -> web.Application:
    """The app as served, for its route table only (it connects to nothing)."""
    return create_app(make_settings("http://127.0.0.1:9"))


def declared_routes(app: web.Application) -> list[Route]:
    rooms = {
        (route.method, _PATH_PARAM.sub(r"{\1}", route.path)): room.name
        for room in app[ROOMS]
        for table in room.routes
        for route in table.table
        if isinstance(route, web.RouteDef)
    }
    found = []
    for route in app.router.routes():
        meta = route_meta(route.handler)
        if meta is None or route.resource is None or route.method == "HEAD":
            continue  # HEAD is the GET handler's (aiohttp): the same declaration
        path = route.resource.canonical
        found.append(Route(route.method, path, meta, rooms.get((route.method, path), "?")))
    return found


def undeclared_routes(app: web.Application) -> list[str]:
    return [
        f"{route.method} {route.resource.canonical if route.resource else '?'}"
        for route in app.router.routes()
        if route.method != "HEAD" and route_meta(route.handler) is None
    ]


def _load_room_cases(app: web.Application) -> None:
    """Every room with routes brings its factories and request builders."""
    for room in app[ROOMS]:
        if room.routes:
            try:
                importlib.import_module(f"tests.{room.name}.authorisation")
            except ModuleNotFoundError as exc:
                raise AssertionError(
                    f"room {room.name!r} has routes but no tests/{room.name}/authorisation.py "
                    "(tests/fixtures/authorisation.py says what it registers)"
                ) from exc


@dataclass(frozen=True)
class MatrixCase:
    route: Route
    role: str
    others: frozenset[str]
    variant: str

    @property
    def id(self) -> str:
        return f"{self.route.method} {self.route.path} | {self.role} | {self.variant}"


def matrix_cases(routes: list[Route]) -> list[MatrixCase]:
    cases = []
    for route in routes:
        names = [rule.name for rule in route.meta.access.objects]
        for role in ROLES:
            if not names:
                cases.append(MatrixCase(route, role, frozenset(), "-"))
            elif role == ANONYMOUS:  # owns nothing: every object is someone else's
                cases.append(MatrixCase(route, role, frozenset(names), "others"))
            else:
                cases.append(MatrixCase(route, role, frozenset(), "own"))
                cases += [
                    MatrixCase(route, role, frozenset({name}), f"others:{name}") for name in names
                ]
    return cases


TABLE_APP = _table_app()
ROUTES = declared_routes(TABLE_APP)
_load_room_cases(TABLE_APP)
CASES = matrix_cases(ROUTES)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world() -> AsyncIterator[World]:
    async with open_world() as world:
        yield world


def _url(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"{path}: no value for the path parameter {name}"
        return values[name]

    return _PATH_PARAM.sub(value, path)


def builder_of(route: Route) -> RouteCase:
    spec = BUILDERS.get((route.method, route.path))
    if spec is None:
        pytest.fail(
            f"no request builder for {route.method} {route.path}: add "
            f'@builds("{route.method}", "{route.path}") to tests/{route.room}/authorisation.py'
        )
    return spec


@pytest.mark.asyncio(loop_scope="module")  # with the module's world
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_route_answers_as_declared(world: World, case: MatrixCase) -> None:
    route = case.route
    spec = builder_of(route)
    caller = None if case.role == ANONYMOUS else world.callers[case.role]
    if caller is not None and spec.caller == "fresh_session":
        caller = await world.new_session(caller)
    elif caller is not None and spec.caller == "fresh_user":
        caller = await world.account(case.role)
    objects = {}
    for rule in route.meta.access.objects:
        owner = world.other if caller is None or rule.name in case.others else caller
        objects[rule.name] = await world.make(rule.kind, owner, spec.states.get(rule.name))
    call = await spec.build(Case(world, caller, objects, case.others))
    path_values = {
        **call.path,
        **{
            rule.name: objects[rule.name].id
            for rule in route.meta.access.objects
            if not rule.in_body
        },
    }
    expected = route.meta.access.expected(
        caller.roles if caller else None, case.others, route.meta.status
    )
    options = {"json": call.json} if call.json is not None else {"data": call.data}
    async with world.client.request(
        route.method,
        _url(route.path, path_values),
        headers=caller.headers if caller else {},
        params=call.query,
        **options,
    ) as resp:
        body = await resp.read()
        code = None
        if resp.status >= 400:
            code = (await resp.json())["error"]["code"]
        answer = (resp.status, code)
    assert answer == expected, body[:300]
    if code is not None:
        assert_error(await resp.json(), code)


# -- the matrix covers what it should -----------------------------------------------------


def test_every_route_declares_access() -> None:
    assert undeclared_routes(TABLE_APP) == []
    assert len(ROUTES) >= 40  # the table was really read


def test_every_room_is_in_the_matrix() -> None:
    rooms_with_routes = {room.name for room in TABLE_APP[ROOMS] if room.routes}
    assert {route.room for route in ROUTES} == rooms_with_routes
    assert {"stories", "media", "auth", "ops"} <= rooms_with_routes
    assert "?" not in {route.room for route in ROUTES}


def test_staff_routes_are_role_bound() -> None:
    """The matrix checks behaviour against declarations; this checks the declarations
    where a slip would open a staff route to everyone."""
    loose = [
        f"{route.method} {route.path}"
        for route in ROUTES
        if route.path.startswith("/api/v1/admin") and not route.meta.access.required_roles
    ]
    assert loose == []


def test_the_document_says_what_is_declared() -> None:
    doc = build_openapi(TABLE_APP, "matrix", "0")
    for route in ROUTES:
        op = doc["paths"][route.path][route.method.lower()]
        access = route.meta.access
        assert op["x-access"]["signed_in"] is access.needs_token, route
        assert op["x-access"]["roles"] == list(access.required_roles), route
        assert [o["name"] for o in op["x-access"]["objects"]] == [
            rule.name for rule in access.objects
        ]
        assert ("401" in op["responses"]) is access.needs_token, route
        refusals = [rule.code for rule in access.objects if rule.whose is Whose.not_owner]
        if access.required_roles or refusals:
            assert all(c in op["responses"]["403"]["description"] for c in refusals), route


def test_every_request_builder_names_a_route() -> None:
    """A builder left behind by a route that is gone (or renamed) is found."""
    assert set(BUILDERS) - {(route.method, route.path) for route in ROUTES} == set()


def test_a_route_without_access_is_refused_at_registration() -> None:
    routes = ApiRoutes(prefix="/x")
    with pytest.raises(UndeclaredAccess, match=r"GET /x/new: declare access="):

        @routes.get("/new", "a room's new route")
        async def new(request: web.Request) -> web.Response:
            return respond({"ok": True})

    with pytest.raises(TypeError):  # the old spellings are gone, not ignored

        @routes.get("/old", "the old way too", access=Access.public(), public=True)
        async def old(request: web.Request) -> web.Response:
            return respond({"ok": True})


def test_a_route_added_by_hand_is_found_undeclared() -> None:
    async def by_hand(request: web.Request) -> web.Response:
        return respond({"ok": True})

    app = _table_app()
    app.router.add_get("/api/v1/by-hand", by_hand)
    assert undeclared_routes(app) == ["GET /api/v1/by-hand"]


def test_declared_routes_without_a_builder_are_cases_that_fail() -> None:
    routes = ApiRoutes(tag="new")

    @routes.post("/things/{thing_id}/do", "a new room's route", access=Access.signed_in())
    async def do(request: web.Request) -> web.Response:
        return respond({"ok": True})

    app = web.Application()
    app.router.add_routes(routes.table)
    app[ROOMS] = ()
    new = declared_routes(app)
    assert [(route.method, route.path) for route in new] == [
        ("POST", "/api/v1/things/{thing_id}/do")
    ]
    assert [case.variant for case in matrix_cases(new)] == ["-"] * len(ROLES)
    with pytest.raises(pytest.fail.Exception, match="no request builder for POST"):
        builder_of(new[0])


def test_the_declarations_promise_what_api_md_says() -> None:
    """Spot checks of ``Access.expected`` itself (the matrix trusts it)."""
    publish = Access.roles(Role.reviewer).on("s", "story", Whose.not_owner, code="four_eyes")
    reviewer = {Role.resident, Role.reviewer}
    assert publish.expected(None, {"s"}, 200) == (401, "unauthorized")
    assert publish.expected({Role.resident, Role.editor}, set(), 200) == (403, "forbidden")
    assert publish.expected(reviewer, set(), 200) == (403, "four_eyes")
    assert publish.expected(reviewer, {"s"}, 200) == (200, None)
    assert publish.expected({Role.admin}, {"s"}, 200) == (200, None)
    mine = Access.signed_in().on("c", "checkin", Whose.owner).uses("m", kind="photo", code="mnf")
    assert mine.expected({Role.student}, set(), 201) == (201, None)
    assert mine.expected({Role.student}, {"c"}, 201) == (404, "not_found")
    assert mine.expected({Role.student}, {"m"}, 201) == (422, "mnf")
    theirs = Access.signed_in().on("k", "class", Whose.owner_or_admin)
    assert theirs.expected({Role.teacher}, set(), 200) == (200, None)
    assert theirs.expected({Role.teacher}, {"k"}, 200) == (404, "not_found")
    assert theirs.expected({Role.admin}, {"k"}, 200) == (200, None)
    assert Access.public().expected(None, set(), 200) == (200, None)
    with pytest.raises(ValueError, match="needs its own code"):
        Access.signed_in().on("s", "story", Whose.not_owner)
