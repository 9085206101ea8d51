"""The dashboard in the authorisation matrix: one page, whose sections follow the
caller's roles (tests/console/test_dashboard.py checks which)."""

from __future__ import annotations

from tests.fixtures.authorisation import plain

plain(("GET", "/admin/dashboard"))
