"""The media routes fuzzed harder than the whole-document run: schemathesis over the
upload and serving operations with a larger budget, and every malformed serving input
we could think of (ids, variants, signatures, expiries, ranges, validators) in-process.
No input makes a 500; media URLs answer 404 for anything not ours."""

from __future__ import annotations

import itertools
import os
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.fixtures.app import Client
from tests.fixtures.live_server import LiveServers
from tests.fixtures.sessions import sign_in_wechat
from tests.media.test_media_api import jpeg_bytes, local, upload
from tests.test_schemathesis import sign_in

MAX_EXAMPLES = int(os.environ.get("MEDIA_FUZZ_MAX_EXAMPLES", "120"))


@pytest.fixture
async def api(live_server: LiveServers) -> str:
    server = await live_server(rate_limits=False)
    return server.base_url


def test_no_input_to_a_media_route_makes_a_server_error(api: str) -> None:
    media = schemathesis.openapi.from_url(api + "/openapi.json").include(path_regex="/media")
    assert sorted(op.ok().path for op in media.get_all_operations()) == [  # type: ignore[union-attr]
        "/api/v1/media",
        "/media/{media_id}/{variant}",
    ]
    headers = {"Authorization": f"Bearer {sign_in(api)}"}
    budget = settings(
        max_examples=MAX_EXAMPLES * 2,  # the two operations share it
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )

    def call(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    given(case=media.as_strategy())(budget(call))()


ODD_TEXT = ["", "%00", "%FF%FE", "%C2%B2", "%EF%BC%91", "😀", "a" * 3000, "..", "%2e%2e", "-1"]


async def test_no_serving_input_makes_a_server_error(client: Client) -> None:
    alice = await sign_in_wechat(client, "alice")
    public = await (await upload(client, alice, jpeg_bytes(color="tan"))).json()
    private = await (await upload(client, alice, jpeg_bytes(color="tan"), purpose="checkin")).json()
    signed = local(private["urls"]["thumb"])
    bare, _, query = signed.partition("?")
    ids = [public["id"], private["id"], public["id"].upper(), "0" * 24, *ODD_TEXT]
    variants = ["thumb", "THUMB", "thumb.jpg", "%FF", *ODD_TEXT[:4]]
    queries = [
        "",
        query,
        query + "&exp=1",  # repeated: the first counts
        "exp=" + "9" * 5000 + "&sig=x",
        "exp=1&sig=" + "%E7%AD%BE" * 400,
        *(f"exp={a}&sig={b}" for a, b in itertools.product(ODD_TEXT[:6], ODD_TEXT[:6])),
    ]
    allowed = {200, 404}
    for media_id, variant, q in itertools.product(ids, variants, queries[:8]):
        resp = await client.get(f"/media/{quote(media_id, safe='%')}/{variant}?{q}")
        assert resp.status in allowed, (media_id[:40], variant, q[:40], resp.status)
    for q in queries:
        resp = await client.get(f"{bare}?{q}")
        assert resp.status in allowed, (q[:40], resp.status)
    headers = [
        {"Range": value}
        for value in (
            "bytes=",
            "bytes=-",
            "bytes=--1",
            "bytes=1-0",
            "bytes=0-0",
            "bytes=" + "1" * 4000 + "-" + "2" * 4000,  # under aiohttp's 8 KiB per header
            "bytes=\u0661-\u0662".encode().decode("latin-1"),
            "items=0-1",
            "bytes = 0-1",
            "bytes=0-1, 2-3",
            "x" * 8000,
        )
    ]
    headers += [{"If-None-Match": v} for v in ("*", '""', "W/" + '"x"' * 2000)]
    headers += [{"Accept": v} for v in ("image/webp;q=0", "*/*" * 1000, "")]
    for url in (local(public["urls"]["medium"]), signed):
        for header in headers:
            for method in (client.get, client.head):
                resp = await method(url, headers=header)
                assert resp.status in {200, 206, 304, 416}, (header, resp.status)
