"""Property-based run over the whole served OpenAPI document: no input makes a 500.

A real server process (``python -m server serve``) against the real services; the
example budget is bounded so the run stays short, and it grows with every room.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bench.common import free_port, wait_until_ok
from tests.conftest import MONGODB_URI, REDIS_URL, drop_test_state, make_settings

ROOT = Path(__file__).resolve().parent.parent
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))


@pytest.fixture(scope="module")
def live_server() -> Iterator[str]:
    port = free_port()
    unique = uuid.uuid4().hex[:12]
    env = {
        **os.environ,
        "APP_ENV": "development",  # dev: codes through our in-process fake WeChat
        "WECHAT_APP_ID": "",
        "MONGODB_URI": MONGODB_URI,
        "MONGODB_DB": f"jx_test_st_{unique}",
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"jxtest:st:{unique}:",
        "RATE_LIMIT_IP_PER_MINUTE": "1000000",
        "RATE_LIMIT_USER_PER_MINUTE": "1000000",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)], cwd=ROOT, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(base + "/readyz")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        import asyncio

        asyncio.run(
            drop_test_state(
                make_settings("", mongodb_db=env["MONGODB_DB"], redis_prefix=env["REDIS_PREFIX"])
            )
        )


def sign_in(base: str) -> str:
    request = urllib.request.Request(  # noqa: S310
        base + "/api/v1/auth/wechat",
        data=json.dumps({"code": f"dev:st{uuid.uuid4().hex[:8]}"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
        token: str = json.load(resp)["access_token"]
        return token


def test_no_input_makes_a_server_error(live_server: str) -> None:
    schema = schemathesis.openapi.from_url(live_server + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            # A fresh user per case: one case may log out or erase its own account.
            headers = {"Authorization": f"Bearer {sign_in(live_server)}"}
            # Every default check (server errors, status codes, content types, response
            # schemas, negative data) except "schema-valid data is accepted": a valid
            # shape can still name a record that does not exist (422 with the field).
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        run()
