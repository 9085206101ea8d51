"""Duplicate check-in photos (issue 10, item 8): another student's photo handed in again,
re-encoded, resized and slightly cropped, is flagged for the teacher, not refused."""

from __future__ import annotations

import io
import random
from datetime import timedelta
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from server.clock import SettableClock
from tests.fixtures.app import Client
from tests.fixtures.sessions import Session
from tests.labour.conftest import World, get_ok, make_task, refreshed
from tests.labour.test_checkins import check_in
from tests.media.test_media_api import upload


def photo(seed: int, width: int = 600, height: int = 800) -> Image.Image:
    """A photo-like picture: a turned gradient with shapes, softened; ``seed`` is the scene."""
    rnd = random.Random(seed)  # noqa: S311 (a test picture, not a secret)
    im = Image.linear_gradient("L").resize((width, height)).rotate(rnd.randint(0, 360))
    im = im.convert("RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(25):
        x, y = rnd.randint(0, width), rnd.randint(0, height)
        r = rnd.randint(width // 25, width // 4)
        fill = (rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x - r, y - r, x + r, y + r), fill=fill)
    return im.filter(ImageFilter.GaussianBlur(1.5))


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def passed_off(im: Image.Image) -> bytes:
    """The photo as a classmate would hand it in: 2 % cropped off each side, resized to
    three quarters and re-encoded at a lower quality."""
    w, h = im.size
    cropped = im.crop((w * 2 // 100, h * 2 // 100, w - w * 2 // 100, h - h * 2 // 100))
    return jpeg(cropped.resize((w * 3 // 4, h * 3 // 4)), quality=60)


async def checked_in(client: Client, who: Session, task_id: str, data: bytes) -> dict[str, Any]:
    resp = await upload(client, who, data, purpose="checkin")
    assert resp.status == 201, await resp.text()
    media_id = (await resp.json())["id"]
    resp = await check_in(client, who, task_id, media_ids=[media_id])
    assert resp.status == 201, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def test_a_classmates_photo_again_is_flagged_with_the_other_check_in(
    client: Client, world: World, clock: SettableClock
) -> None:
    scene = photo(2)
    mine = await make_task(client, world.a.teacher, [world.a1["id"]], photo_required=True)
    theirs = await make_task(client, world.teacher2, [world.a2["id"]], photo_required=True,
                             end_date="2027-01-31")  # fmt: skip
    original = await checked_in(client, world.s1, mine["id"], jpeg(scene))
    assert original["flags"] == [] and original["duplicate_of"] is None
    # 张二 (a2, the same school) hands in 张一's photo, cropped, resized and re-encoded.
    copy = await checked_in(client, world.s2, theirs["id"], passed_off(scene))
    assert copy["status"] == "submitted"  # flagged, not refused
    assert "duplicate_photo" in copy["flags"]
    assert copy["duplicate_of"] is None  # the student is not told whose it resembles
    # Their teacher is, and so is an admin; 张一's name is not teacher2's to see.
    listed = await get_ok(client, "/teacher/checkins", world.teacher2)
    flagged = next(c for c in listed["items"] if c["id"] == copy["id"])
    other = flagged["duplicate_of"]
    assert (other["checkin_id"], other["student_id"], other["class_id"]) == (
        original["id"], world.s1.user_id, world.a1["id"],
    )  # fmt: skip
    assert other["media_id"] == copy["photos"][0]["id"]
    assert other["other_media_id"] == original["photos"][0]["id"]
    assert 0 <= other["distance"] <= 10 and other["student_name"] is None
    assert (await get_ok(client, f"/checkins/{copy['id']}", world.admin))["duplicate_of"] == other
    assert (await get_ok(client, f"/checkins/{copy['id']}", world.s2))["duplicate_of"] is None
    # 张一's own check-in stays unflagged.
    own = await get_ok(client, "/teacher/checkins", world.a.teacher)
    assert [c["flags"] for c in own["items"]] == [[]]


async def test_what_is_not_a_duplicate(client: Client, world: World, clock: SettableClock) -> None:
    scene = photo(2)
    first = await make_task(client, world.a.teacher, [world.a1["id"]], frequency="once",
                            end_date="2027-01-31")  # fmt: skip
    second = await make_task(client, world.a.teacher, [world.a1["id"]], frequency="once")
    other_school = await make_task(client, world.b.teacher, [world.b1["id"]], frequency="once")
    classmate = await make_task(client, world.teacher2, [world.a2["id"]], frequency="once",
                                end_date="2027-01-31")  # fmt: skip
    await checked_in(client, world.s1, first["id"], jpeg(scene))
    # Another picture; the same student's own photo again; another school's student.
    different = await checked_in(client, world.s2, classmate["id"], jpeg(photo(9)))
    assert different["flags"] == []
    again = await checked_in(client, world.s1, second["id"], passed_off(scene))
    assert again["flags"] == []
    elsewhere = await checked_in(client, world.s3, other_school["id"], jpeg(scene))
    assert elsewhere["flags"] == []
    # Past the recent weeks, the old photo is not compared any more.
    clock.advance(timedelta(days=29))
    later = await make_task(client, await refreshed(client, world.teacher2), [world.a2["id"]],
                            frequency="once", start_date="2026-12-31",
                            end_date="2027-01-31")  # fmt: skip
    late = await checked_in(client, await refreshed(client, world.s2), later["id"],
                            passed_off(scene))  # fmt: skip
    assert late["flags"] == []
