"""The fixtures live in tests/fixtures/, by concern; this file only registers them.

Tests import helpers (``Client``, ``Session``, ``sign_in_wechat``, ``assert_error``, ...)
from ``tests.fixtures.<module>``, never from a conftest.
"""

import pytest

# The helpers' asserts explain themselves too, as a conftest's would.
pytest.register_assert_rewrite("tests.fixtures")

pytest_plugins = [
    "tests.fixtures.wechat",
    "tests.fixtures.app",
    "tests.fixtures.live_server",
    "tests.fixtures.redis_process",
    "tests.fixtures.browser",
]
