"""WebP made after the answer (issue 10, "check-in photos are the hot path"): an upload
is answered with its JPEG variants stored, the job worker makes the WebP ones, and
until then a client asking for WebP gets the JPEG; a lost job, a restart or Redis gone
leaves the photo served; the job is idempotent and never outlives an erasure."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from arq import Worker
from arq.jobs import Job, JobStatus
from PIL import Image

from config.settings import Settings
from handlers.media import make_pending_webp, make_webp
from handlers.media.keys import MEDIA_SERVICE
from handlers.media.service import WEBP_JOB, WEBP_JOB_GRACE
from server.app import create_app
from server.clock import SettableClock
from server.jobqueue import queue_name
from server.keys import JOBS, REDIS
from server.worker import close_worker, create_worker
from tests.fixtures.app import AiohttpClient, Client
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.fixtures.waiting import eventually
from tests.media.test_media_api import jpeg_bytes, local, upload


@pytest.fixture
async def alice(client: Client) -> Session:
    return await sign_in_wechat(client, "alice")


@pytest.fixture
async def worker(client: Client) -> AsyncIterator[Worker]:
    """An arq worker in this process, on the test's queue, using the test app's services."""
    running = create_worker(client.app, poll_delay_s=0.05, handle_signals=False)
    task = asyncio.create_task(running.async_run())
    yield running
    await close_worker(running)
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def fetch(client: Client, url: str, accept: str = "image/webp,image/*") -> tuple[Any, bytes]:
    resp = await client.get(local(url), headers={"Accept": accept})
    assert resp.status == 200, await resp.text()
    return resp, await resp.read()


async def files(client: Client) -> int:
    return await client.app[MEDIA_SERVICE].blobs.files.count_documents({})


async def chunks(client: Client) -> int:
    return await client.app[MEDIA_SERVICE].blobs.chunks.count_documents({})


def test_the_queued_job_has_the_name_the_worker_knows() -> None:
    assert make_webp.__name__ == WEBP_JOB


async def test_jpeg_is_served_until_the_worker_makes_the_webp(
    client: Client, alice: Session, worker: Worker
) -> None:
    # The worker is already polling: the job may run at any moment after the answer,
    # so what is checked before it is only what holds either way.
    media = await (await upload(client, alice, jpeg_bytes((1600, 1200)), purpose="checkin")).json()
    url = media["urls"]["large"]
    jpeg, jpeg_bytes_ = await fetch(client, url, "image/jpeg")
    assert jpeg.headers["Content-Type"] == "image/jpeg"
    assert jpeg.headers["Vary"] == "Accept"

    async def webp_served() -> Any:
        resp, body = await fetch(client, url)
        return (resp, body) if resp.headers["Content-Type"] == "image/webp" else None

    webp, body = await eventually(webp_served, what="the WebP made by the worker")
    with Image.open(io.BytesIO(body)) as picture:
        assert picture.format == "WEBP"
        assert picture.size == (1600, 1200)
        assert not picture.getexif()
    assert webp.headers["ETag"] != jpeg.headers["ETag"]
    assert webp.headers["Cache-Control"].startswith("private")  # a check-in photo
    assert (await client.get(local(url).split("?")[0])).status == 404  # still signed only
    # JPEG is still what a client without WebP gets, the same bytes as before.
    again, same = await fetch(client, url, "image/jpeg")
    assert again.headers["ETag"] == jpeg.headers["ETag"] and same == jpeg_bytes_
    assert await files(client) == 6  # 3 sizes x JPEG + WebP


async def test_before_the_job_runs_every_url_answers_with_the_jpeg(
    client: Client, alice: Session
) -> None:
    media = await (await upload(client, alice, jpeg_bytes(), purpose="checkin")).json()
    # Queued for the worker (none runs in this test), once per media.
    job_id = client.app[JOBS].job_id(f"webp:{media['id']}")
    job = Job(job_id, client.app[JOBS].arq, _queue_name=queue_name(client.app[REDIS].prefix))
    assert await job.status() == JobStatus.queued
    assert await files(client) == 3
    for name in ("thumb", "medium", "large"):
        for accept in ("image/webp", "image/jpeg", "*/*", ""):
            resp, body = await fetch(client, media["urls"][name], accept)
            assert resp.headers["Content-Type"] == "image/jpeg"
            assert resp.headers["Vary"] == "Accept"
            with Image.open(io.BytesIO(body)) as picture:
                assert picture.format == "JPEG"
            head = await client.head(local(media["urls"][name]), headers={"Accept": accept})
            assert int(head.headers["Content-Length"]) == len(body)


async def test_a_restart_that_lost_the_job_leaves_the_photo_served_and_the_sweep_makes_it(
    client: Client,
    alice: Session,
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: SettableClock,
) -> None:
    media = await (await upload(client, alice, jpeg_bytes(color="olive"), purpose="checkin")).json()
    # Redis restarted empty, and the server too: the job is gone.
    redis = client.app[REDIS]
    await redis.client.delete(queue_name(redis.prefix))
    restarted = await aiohttp_client(create_app(settings, clock=clock))
    resp, _ = await fetch(restarted, media["urls"]["thumb"])
    assert resp.headers["Content-Type"] == "image/jpeg"
    # Inside its grace the sweep leaves it to the job it may still have.
    assert await make_pending_webp(restarted.app) == 0
    clock.advance(WEBP_JOB_GRACE + timedelta(seconds=1))
    assert await make_pending_webp(restarted.app) == 1
    resp, _ = await fetch(restarted, media["urls"]["thumb"])
    assert resp.headers["Content-Type"] == "image/webp"
    assert await make_pending_webp(restarted.app) == 0
    assert await files(client) == 6


async def test_with_redis_gone_the_upload_is_answered_and_the_sweep_makes_the_webp(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: SettableClock,
    unused_tcp_port: int,
) -> None:
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{unused_tcp_port}/0"})
    cut_off = await aiohttp_client(create_app(no_redis, clock=clock))
    alice = await sign_in_wechat(cut_off, "alice")
    resp = await upload(cut_off, alice, jpeg_bytes(color="teal"), purpose="checkin")
    assert resp.status == 201, await resp.text()
    media = await resp.json()
    served, _ = await fetch(cut_off, media["urls"]["medium"])
    assert served.headers["Content-Type"] == "image/jpeg"
    # The worker runs where Redis is (it needs it for its queue): its sweep finds it.
    worker_side = await aiohttp_client(create_app(settings, clock=clock))
    clock.advance(WEBP_JOB_GRACE + timedelta(seconds=1))
    assert await make_pending_webp(worker_side.app) == 1
    served, _ = await fetch(cut_off, media["urls"]["medium"])
    assert served.headers["Content-Type"] == "image/webp"


async def test_the_job_is_idempotent_even_twice_at_once(client: Client, alice: Session) -> None:
    service = client.app[MEDIA_SERVICE]
    first = await (await upload(client, alice, jpeg_bytes(color="navy"))).json()
    second = await (await upload(client, alice, jpeg_bytes(color="maroon"))).json()
    # Two workers took the same job (arq retried it after a timeout, say).
    both = await asyncio.gather(make_webp(client.app, first["id"]), service.make_webp(first["id"]))
    assert sorted(both) == [False, True]
    assert await make_webp(client.app, first["id"]) is False
    assert await service.make_webp(second["id"]) is True
    assert await service.make_webp(second["id"]) is False
    etag = (await fetch(client, first["urls"]["thumb"]))[0].headers["ETag"]
    assert await make_webp(client.app, first["id"]) is False
    assert (await fetch(client, first["urls"]["thumb"]))[0].headers["ETag"] == etag
    assert await files(client) == 12  # the loser's WebP files are gone again
    assert await make_webp(client.app, "0" * 32) is False  # a media since deleted


async def test_an_erasure_before_the_job_leaves_no_webp_behind(
    client: Client, alice: Session
) -> None:
    service = client.app[MEDIA_SERVICE]
    media = await (await upload(client, alice, jpeg_bytes(), purpose="checkin")).json()
    # The deletion has marked the record (and the job comes now): nothing is added.
    assert await service.repo.mark_deleting(media["id"], service.clock.now()) is not None
    assert (await client.get(local(media["urls"]["thumb"]))).status == 404
    assert await service.get_out(media["id"], alice.user_id) is None
    assert await service.make_webp(media["id"]) is False
    assert await files(client) == 3
    # The deletion was interrupted there (a crash): the sweep finishes it.
    result = await service.sweep()
    assert await service.repo.get(media["id"]) is None
    assert result["unreferenced_media"] == 0
    assert (await files(client), await chunks(client)) == (0, 0)


async def test_erasing_a_photo_with_its_webp_removes_every_file(
    client: Client, alice: Session
) -> None:
    service = client.app[MEDIA_SERVICE]
    media = await (await upload(client, alice, jpeg_bytes(), purpose="checkin")).json()
    assert await service.make_webp(media["id"]) is True
    assert await files(client) == 6
    assert (await client.delete("/api/v1/me", headers=alice.headers)).status == 202
    assert (await files(client), await chunks(client)) == (0, 0)
    for accept in ("image/webp", "image/jpeg"):
        resp = await client.get(local(media["urls"]["thumb"]), headers={"Accept": accept})
        assert resp.status == 404
