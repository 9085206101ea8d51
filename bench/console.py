"""The staff console's pages on the demo data (issue 12 item 9: no page over 200 ms).

One run: a fresh database and Redis prefix, ``python -m server seed`` (the demo data
``make run`` shows, its art drawn by ``make demo-art``), then ``python -m server
serve`` in development mode. Signed in as each demo staff account (admin, editor,
reviewer, organizer, teacher) through the sign-in form, it walks every page the
navigation shows that account and one level of links from those pages into detail
pages (a few of each kind: ids replaced by ``{id}``), asks each page ``--requests``
times one after another (after one warm-up) and prints, per page, the median and the
worst time from sending the request to having read the whole page, flagging any over
200 ms. Timings stay here, never in the tests.

    make bench-console        # or: python -m bench.console --requests 20
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.common import drop_run_state
from scripts.processes import free_port, stop_all, wait_until_ok

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = ("admin", "editor", "reviewer", "organizer", "teacher")
PASSWORD = "jiangxin-demo"  # noqa: S105 (the demo accounts' password, development only)
BUDGET_MS = 200.0
PER_KIND = 3  # detail pages of one kind (one path with ids as {id})
_NAV = re.compile(r'<nav aria-label="主导航">(.*?)</nav>', re.S)
_LINK = re.compile(r'href="(/admin/[^"#]*)"')
_ID = re.compile(r"[0-9a-f]{24}|[0-9a-f]{32}")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SKIP = ("/admin/logout", "/admin/login")


@dataclass
class Timed:
    account: str
    path: str
    status: int
    median_ms: float
    max_ms: float


def kind_of(path: str) -> str:
    """The page's kind: its path with ids as ``{id}`` (the query left out)."""
    return _ID.sub("{id}", path.split("?", 1)[0])


def links(page: str) -> list[str]:
    """The console links of a page, in order, once each."""
    found = [html.unescape(link) for link in _LINK.findall(page)]
    return [link for link in dict.fromkeys(found) if not link.startswith(_SKIP)]


async def sign_in(session: aiohttp.ClientSession, base: str, username: str) -> str:
    """Signed in through the form; the home page."""
    async with session.get(f"{base}/admin/login") as resp:
        token = _CSRF.search(await resp.text())
    if token is None:
        raise RuntimeError("no CSRF token on the sign-in page")
    form = {"username": username, "password": PASSWORD, "csrf_token": html.unescape(token[1])}
    async with session.post(f"{base}/admin/login", data=form) as resp:
        page = await resp.text()
        if resp.status != 200 or "退出登录" not in page:
            raise RuntimeError(f"{username}: sign-in answered {resp.status}")
    return page


async def pages_of(session: aiohttp.ClientSession, base: str, home: str) -> list[str]:
    """The navigation's pages, then up to ``PER_KIND`` of each kind of page they link."""
    nav = _NAV.search(home)
    top = links(nav[1]) if nav else ["/admin/"]
    walk = list(top)
    per_kind: dict[str, int] = {kind_of(path): 1 for path in top}
    for path in top:
        async with session.get(base + path, allow_redirects=False) as resp:
            page = await resp.text()
        for link in links(page):
            kind = kind_of(link)
            if link in walk or per_kind.get(kind, 0) >= PER_KIND:
                continue
            per_kind[kind] = per_kind.get(kind, 0) + 1
            walk.append(link)
    return walk


async def time_page(
    session: aiohttp.ClientSession, base: str, path: str, requests: int
) -> tuple[int, list[float]]:
    status, took = 0, []
    for n in range(requests + 1):
        started = time.perf_counter()
        async with session.get(base + path, allow_redirects=False) as resp:
            await resp.read()
            status = resp.status
        if n:  # the first one warms up
            took.append((time.perf_counter() - started) * 1000)
    return status, took


async def walk_all(base: str, requests: int) -> list[Timed]:
    results = []
    for account in ACCOUNTS:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            home = await sign_in(session, base, account)
            for path in await pages_of(session, base, home):
                status, took = await time_page(session, base, path, requests)
                results.append(Timed(account, path, status, statistics.median(took), max(took)))
    return results


def report(results: list[Timed], requests: int, seed_s: float) -> None:
    print(f"console pages on the demo data (seeded in {seed_s:.1f} s), {requests} requests "
          f"each after a warm-up, one at a time; budget {BUDGET_MS:.0f} ms")  # fmt: skip
    print(f"{'account':<10} {'page':<58} {'status':>6} {'median':>9} {'max':>9}")
    for r in results:
        flag = "  OVER" if r.median_ms > BUDGET_MS or r.max_ms > BUDGET_MS else ""
        flag += "  NOT 200" if r.status != 200 else ""  # a link of ours that does not open
        path = r.path if len(r.path) <= 58 else r.path[:55] + "..."
        print(f"{r.account:<10} {path:<58} {r.status:>6} {r.median_ms:7.1f}ms "
              f"{r.max_ms:7.1f}ms{flag}")  # fmt: skip
    over = [r for r in results if r.max_ms > BUDGET_MS]
    slowest = max(results, key=lambda r: r.median_ms)
    broken = [r for r in results if r.status != 200]
    print(f"{len(results)} pages; slowest median {slowest.median_ms:.1f} ms "
          f"({slowest.account} {slowest.path}); {len(over)} with a request over "
          f"{BUDGET_MS:.0f} ms; {len(broken)} not answered 200")  # fmt: skip
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20, help="per page, after a warm-up")
    args = parser.parse_args()
    unique = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_DB": f"jx_bench_console_{unique}",
        "REDIS_PREFIX": f"jxbench:console:{unique}:",
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "false",
        "RATE_LIMITS": "false",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "server", "seed"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        seed_s = time.perf_counter() - started
        server = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_until_ok(base + "/readyz", timeout_s=60)
            results = asyncio.run(walk_all(base, args.requests))
        finally:
            stop_all([server])
    finally:
        asyncio.run(drop_run_state(env["MONGODB_DB"], env["REDIS_PREFIX"]))
    report(results, args.requests, seed_s)


if __name__ == "__main__":
    main()
