"""The job worker (arq on the real Redis): scheduled publishing on time, the sweep that
catches lost jobs, view counts from Redis into MongoDB, and ``python -m server worker``
as deployed."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq import Worker
from arq.jobs import Job

from config.settings import Settings
from handlers.auth import sweep_sessions
from handlers.auth.keys import AUTH_SERVICE
from handlers.stories import publish_due_stories, publish_due_story, store_story_views
from handlers.stories.keys import ENGAGEMENT_SERVICE
from handlers.stories.views import DailyViews
from server.app import create_app
from server.clock import SettableClock
from server.jobqueue import load_job, queue_name
from server.keys import CLOCK, JOBS, REDIS
from server.worker import close_worker, create_worker
from tests.fixtures.app import AiohttpClient, Client
from tests.fixtures.live_server import LiveServers
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.stories.conftest import create_story, publish

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def worker(client: Client) -> AsyncIterator[Worker]:
    """An arq worker in this process, on the test's queue, using the test app's services."""
    running = create_worker(client.app, poll_delay_s=0.05, handle_signals=False)
    task = asyncio.create_task(running.async_run())
    yield running
    await close_worker(running)
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def admin_story(client: Client, staff: dict[str, Session], story_id: str) -> Any:
    resp = await client.get(f"/api/v1/admin/stories/{story_id}", headers=staff["reviewer"].headers)
    assert resp.status == 200
    return await resp.json()


async def wait_for_status(
    client: Client, staff: dict[str, Session], story_id: str, status: str, timeout_s: float
) -> None:
    """Until the story has ``status`` (polling every 50 ms); fails after the timeout."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if (await admin_story(client, staff, story_id))["status"] == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"story {story_id} did not become {status} within {timeout_s} s")


async def feed_ids(client: Client) -> list[str]:
    return [s["id"] for s in (await (await client.get("/api/v1/stories")).json())["items"]]


async def schedule(
    client: Client, staff: dict[str, Session], title: str, at: datetime
) -> tuple[str, str]:
    """A story scheduled for ``at``: its id and the id of its queued publish job."""
    story = await create_story(client, staff["editor"], title=title)
    scheduled = await publish(client, staff, story["id"], publish_at=at.isoformat())
    assert scheduled["status"] == "scheduled"
    job_id = client.app[JOBS].job_id(f"publish:{story['id']}:{scheduled['revision']}")
    return story["id"], job_id


async def queued(client: Client) -> dict[str, int]:
    """arq's queue: job id -> when it runs (Unix ms)."""
    redis = client.app[REDIS]
    jobs = await redis.client.zrange(queue_name(redis.prefix), 0, -1, withscores=True)
    return {job_id.decode(): int(score) for job_id, score in jobs}


async def run_due_job(client: Client, job_id: str) -> Any:
    """The app's clock has reached a queued job's time: tell arq so (it runs jobs by the
    real clock), and wait for the worker's answer (arq polls for it, with a deadline)."""
    redis = client.app[REDIS]
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    await redis.client.zadd(queue_name(redis.prefix), {job_id: now_ms}, xx=True)
    job = Job(job_id, client.app[JOBS].arq, _queue_name=queue_name(redis.prefix),
              _deserializer=load_job)  # fmt: skip
    return await job.result(timeout=10, poll_delay=0.02)


async def test_worker_publishes_a_scheduled_story_on_time(
    client: Client, staff: dict[str, Session], worker: Worker, clock: SettableClock
) -> None:
    at = clock.now() + timedelta(minutes=10)  # within the staff's access-token lifetime
    sid, job_id = await schedule(client, staff, "定时发布的故事", at)
    assert (await client.get(f"/api/v1/stories/{sid}")).status == 404
    assert await feed_ids(client) == []  # this page is now cached, without the story
    # The job is queued for the story's time, to the millisecond: arq runs it then.
    assert await queued(client) == {job_id: int(at.timestamp() * 1000)}
    clock.advance(timedelta(minutes=9, seconds=59))
    assert await publish_due_story(client.app, sid) is False  # not a moment early
    clock.advance(timedelta(seconds=1))
    assert await run_due_job(client, job_id) is True
    story = await admin_story(client, staff, sid)
    assert story["status"] == "published"
    assert datetime.fromisoformat(story["published_at"]) == at
    # The job invalidated the cached page: the story is in the feed straight away.
    assert await feed_ids(client) == [sid]
    assert (await client.get(f"/api/v1/stories/{sid}")).status == 200


async def test_a_story_taken_down_before_its_time_stays_down(
    client: Client, staff: dict[str, Session], worker: Worker, clock: SettableClock
) -> None:
    sid, job_id = await schedule(client, staff, "撤下的定时稿", clock.now() + timedelta(minutes=5))
    down = await client.post(
        f"/api/v1/admin/stories/{sid}/unpublish", headers=staff["editor"].headers
    )
    assert (await down.json())["status"] == "unpublished"
    clock.advance(timedelta(minutes=6))
    assert await run_due_job(client, job_id) is False  # its job ran and found nothing to do
    assert (await admin_story(client, staff, sid))["status"] == "unpublished"
    assert (await client.get(f"/api/v1/stories/{sid}")).status == 404
    assert await feed_ids(client) == []


async def test_the_sweep_publishes_stories_whose_job_was_lost(
    client: Client, staff: dict[str, Session], clock: SettableClock
) -> None:
    sid, _ = await schedule(client, staff, "任务丢失的定时稿", clock.now() + timedelta(minutes=1))
    # Redis lost the queue (restarted empty): only the periodic sweep is left.
    redis = client.app[REDIS]
    await redis.client.delete(queue_name(redis.prefix))
    assert await publish_due_stories(client.app) == 0  # not due yet
    clock.advance(timedelta(minutes=1))
    assert await feed_ids(client) == [sid]  # public on time (read-time rule)...
    assert await publish_due_stories(client.app) == 1  # ...and now published
    assert (await admin_story(client, staff, sid))["status"] == "published"
    assert await publish_due_stories(client.app) == 0


async def test_views_from_two_processes_are_stored_once(
    client: Client, staff: dict[str, Session], aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    story = await create_story(client, staff["editor"])
    await publish(client, staff, story["id"])
    url = f"/api/v1/stories/{story['id']}"
    other_process = await aiohttp_client(create_app(settings))  # same Redis and database
    reader = await sign_in_wechat(client, "viewer")
    await asyncio.gather(
        *(client.get(url) for _ in range(60)),
        *(other_process.get(url, headers=reader.headers) for _ in range(40)),
        client.get(f"/api/v1/stories/{'0' * 24}"),  # a 404 is not a view
    )
    for app in (client.app, other_process.app):
        await app[ENGAGEMENT_SERVICE].views.flush()
    assert await store_story_views(client.app) == 100
    assert (await admin_story(client, staff, story["id"]))["stats"]["views"] == 100
    assert await store_story_views(client.app) == 0  # nothing counted twice


async def test_a_batch_left_by_a_crashed_worker_is_finished_not_doubled(
    client: Client, staff: dict[str, Session]
) -> None:
    story = await create_story(client, staff["editor"])
    await publish(client, staff, story["id"])
    stories = client.app[ENGAGEMENT_SERVICE]
    for _ in range(5):
        await client.get(f"/api/v1/stories/{story['id']}")
    await stories.views.flush()
    # A worker took the views as batch "crashed", wrote them, and died before deleting it.
    redis = client.app[REDIS].client
    batch = f"{stories.views.key}:batch:crashed"
    await redis.rename(stories.views.key, batch)
    await redis.sadd(f"{stories.views.key}:batches", batch)  # type: ignore[misc]
    await stories.repo.add_views(
        "crashed", {story["id"]: {client.app[CLOCK].today().isoformat(): 5}}
    )
    await client.get(f"/api/v1/stories/{story['id']}")  # one more view meanwhile
    await stories.views.flush()
    assert await stories.store_views() == 6  # the leftover batch again, and the new view
    assert (await admin_story(client, staff, story["id"]))["stats"]["views"] == 6
    assert [item.views for item in (await stories.most_read(days=1))[2]] == [6]  # today's too
    assert await stories.store_views() == 0


async def test_two_workers_draining_at_once_count_each_view_once(
    client: Client, staff: dict[str, Session]
) -> None:
    story = await create_story(client, staff["editor"])
    await publish(client, staff, story["id"])
    url = f"/api/v1/stories/{story['id']}"
    stories = client.app[ENGAGEMENT_SERVICE]
    await asyncio.gather(*(client.get(url) for _ in range(7)))
    await stories.views.flush()
    holding, go_on = asyncio.Event(), asyncio.Event()

    async def stalled_write(batch_id: str, counts: DailyViews) -> None:
        holding.set()
        await go_on.wait()
        await stories.repo.add_views(batch_id, counts)

    # Worker 1 has taken the 7 views as a batch and stalls before writing it.
    slow = asyncio.create_task(stories.views.drain(stalled_write))
    await holding.wait()
    await asyncio.gather(*(client.get(url) for _ in range(3)))
    await stories.views.flush()
    # Worker 2 drains meanwhile: worker 1's batch (still listed) and the 3 new views,
    # then, 10 s later, 2 more.
    assert await stories.store_views() == 10
    await asyncio.gather(*(client.get(url) for _ in range(2)))
    await stories.views.flush()
    assert await stories.store_views() == 2
    go_on.set()
    await slow  # worker 1 writes its batch at last: the story took it already
    assert (await admin_story(client, staff, story["id"]))["stats"]["views"] == 12
    assert [item.views for item in (await stories.most_read(days=1))[2]] == [12]


async def test_python_m_server_worker_runs_jobs_and_stops_on_sigterm(
    client: Client, staff: dict[str, Session], settings: Settings, live_server: LiveServers
) -> None:
    worker = await live_server("worker", settings=settings)

    async def check() -> int:
        probe = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "worker", "--check", cwd=ROOT, env=worker.env
        )
        return await asyncio.wait_for(probe.wait(), 15)

    at = datetime.now(UTC) + timedelta(seconds=3)  # the worker runs on the real clock
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # what MongoDB keeps
    sid, _ = await schedule(client, staff, "由独立进程发布", at)
    await wait_for_status(client, staff, sid, "published", timeout_s=30)
    story = await admin_story(client, staff, sid)  # published by the other process
    assert datetime.fromisoformat(story["published_at"]) == at  # at its scheduled time
    assert await check() == 0  # the health check sees a live worker
    assert await worker.stop() == 0  # SIGTERM: it stops cleanly
    assert await check() == 1  # and none once it stopped


async def test_the_session_sweep_keeps_live_sessions(client: Client, clock: SettableClock) -> None:
    auth = client.app[AUTH_SERVICE]
    reader = await sign_in_wechat(client, "still-here")
    long_ago = clock.now() - timedelta(days=40)
    await auth.sessions.create("expired-session", reader.user_id, "x", long_ago, long_ago)
    assert await sweep_sessions(client.app) == 1
    assert await auth.sessions.get("expired-session") is None
    me = await client.get("/api/v1/me", headers=reader.headers)
    assert me.status == 200  # the reader's own session is untouched
