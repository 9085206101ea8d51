"""Property-based run over the whole OpenAPI document: no input makes a 500.

Every operation of ``/openapi.json`` is a test of its own (``schema.parametrize()``
over the document the app builds, which a test checks is the one served) with
schemathesis' whole pipeline: the document's examples, the coverage phase's boundary
and invalid values, then ``SCHEMATHESIS_MAX_EXAMPLES`` random cases, with valid and
invalid data alike. They go to one real server process (``python -m server serve``)
against the real services, with the rate limits lifted (``RATE_LIMITS=false``), signed
in: a resident on the public and ``/me`` routes, a staff member who is editor and
reviewer on ``/admin``. A longer local run:
``SCHEMATHESIS_MAX_EXAMPLES=500 make pytest PYTEST_ARGS=tests/test_schemathesis.py``.
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from handlers.ops.routes import app_version
from server.app import create_app
from server.openapi import build_openapi
from tests.fixtures.app import make_settings
from tests.fixtures.live_server import LiveServers
from tests.fixtures.sessions import create_user

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))

# The document as the app builds it, at collection time (create_app connects to
# nothing): schemathesis makes one test per operation from it.
DOCUMENT = build_openapi(create_app(make_settings("")), "jiangxin API", app_version())
schema = schemathesis.openapi.from_dict(DOCUMENT)
# Both modes (valid and invalid data) are schemathesis' default; said here, so that an
# upgrade that changes the default does not quietly drop one.
schema.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=MAX_EXAMPLES)
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])

# Operations that end the session they are called with: each of their cases gets a
# fresh resident, so that the next cases are not all 401.
SESSION_ENDING = {("POST", "/api/v1/auth/logout"), ("DELETE", "/api/v1/me")}


def _post_json(url: str, body: dict[str, str]) -> Any:
    request = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return json.load(resp)


def sign_in(base: str) -> str:
    """A fresh resident (``dev:`` sign-in through the server's fake WeChat): a token."""
    token: str = _post_json(
        base + "/api/v1/auth/wechat", {"code": f"dev:st{uuid.uuid4().hex[:8]}"}
    )["access_token"]
    return token


@dataclass(frozen=True)
class Api:
    base_url: str
    resident: str
    staff: str

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        if (method.upper(), path) in SESSION_ENDING:
            token = sign_in(self.base_url)
        elif path.startswith("/api/v1/admin/"):
            token = self.staff
        else:
            token = self.resident
        return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api() -> AsyncIterator[Api]:
    """One server for every operation's test (a process per test would cost more than
    the fuzzing): no rate limits, a resident, and an editor-and-reviewer."""
    servers = LiveServers()
    try:
        server = await servers(rate_limits=False)
        username, password = f"fuzz-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
        roles = ("--role", "editor", "--role", "reviewer")
        made = create_user(server.settings, "--username", username, *roles, password=password)
        assert made.returncode == 0, made.stderr
        login = {"username": username, "password": password}
        staff = _post_json(server.base_url + "/api/v1/auth/login", login)["access_token"]
        yield Api(server.base_url, sign_in(server.base_url), staff)
    finally:
        await servers.stop_all()


def test_the_fuzzed_document_is_the_served_one(api: Api) -> None:
    with urllib.request.urlopen(api.base_url + "/openapi.json", timeout=10) as resp:  # noqa: S310
        served = json.load(resp)
    assert served == json.loads(json.dumps(DOCUMENT))  # every served operation is fuzzed
    assert len(served["paths"]) >= 10


# aiohttp's HTTP parser refuses a request line longer than this with its own plain-text
# 400, before the app (nginx in front answers 414 at its own 8 KiB: docs/api-changes.md).
MAX_REQUEST_LINE = 8190


@schema.parametrize()
def test_no_input_makes_a_server_error(case: Any, api: Api) -> None:
    # Every default check (server errors, status codes, content types, response schemas,
    # invalid data rejected) except "schema-valid data is accepted": a valid shape can
    # still name a record that does not exist (422 with the field).
    headers = auth_headers(case, api)
    response = case.call(base_url=api.base_url, headers=headers)
    if len(response.request.path_url) > MAX_REQUEST_LINE:  # an invalid cursor of 8 KiB
        assert response.status_code == 400, response.text
        return
    case.validate_response(
        response,
        headers=headers,
        excluded_checks=[positive_data_acceptance],
        transport_kwargs={"base_url": api.base_url, "headers": dict(headers)},
    )


def auth_headers(case: Any, api: Api) -> dict[str, str]:
    """Our session's token, except for a case whose invalid part is its headers and that
    left out ``Authorization`` (a "missing credentials" case): adding ours would send a
    valid request that schemathesis expects to be refused."""
    meta = case.meta
    if (
        meta is not None
        and meta.is_negative_at(ParameterLocation.HEADER)
        and "Authorization" not in (case.headers or {})
    ):
        return {}
    return api.headers_for(case.method, case.operation.path)
