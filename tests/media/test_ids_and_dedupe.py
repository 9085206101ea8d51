"""Media ids nobody can count through, one spelling per media, and deduplication that
never changes a photo's purpose or visibility (issue 9, items 4 and 13)."""

from __future__ import annotations

import re

import pytest

from handlers.media.keys import MEDIA_SERVICE
from handlers.media.repo import DEDUPE_INDEX
from handlers.media.service import MediaNotFound
from server.repo import as_object_id
from tests.fixtures.app import Client
from tests.fixtures.errors import assert_error
from tests.fixtures.sessions import Session, sign_in_wechat
from tests.media.test_media_api import jpeg_bytes, local, upload


@pytest.fixture
async def alice(client: Client) -> Session:
    return await sign_in_wechat(client, "alice")


async def test_the_same_bytes_as_checkin_after_avatar_stay_private(
    client: Client, alice: Session
) -> None:
    data = jpeg_bytes(color="olive")
    avatar = await (await upload(client, alice, data, purpose="avatar")).json()
    checkin = await upload(client, alice, data, purpose="checkin")
    assert checkin.status == 201
    private = await checkin.json()
    assert private["id"] != avatar["id"]
    assert "sig=" in private["urls"]["thumb"]
    assert (await client.get(local(private["urls"]["thumb"]).split("?")[0])).status == 404
    assert (await client.get(local(private["urls"]["thumb"]))).status == 200
    # And the other way round: a check-in photo uploaded again as a story photo is a
    # public copy, not the private one made public.
    story = await (await upload(client, alice, jpeg_bytes(color="maroon"), purpose="story")).json()
    again = await (
        await upload(client, alice, jpeg_bytes(color="maroon"), purpose="checkin")
    ).json()
    assert again["id"] != story["id"]
    assert "sig=" in again["urls"]["thumb"]
    assert "sig=" not in story["urls"]["thumb"]
    # The same purpose still deduplicates.
    same = await (await upload(client, alice, data, purpose="checkin")).json()
    assert same["id"] == private["id"]
    service = client.app[MEDIA_SERVICE]
    docs = await service.repo.of_owner(alice.user_id)
    assert sorted(d["purpose"] for d in docs) == ["avatar", "checkin", "checkin", "story"]


async def test_the_dedupe_index_moves_over_existing_records(client: Client, alice: Session) -> None:
    service = client.app[MEDIA_SERVICE]
    collection = service.repo.collection
    await collection.drop_index(DEDUPE_INDEX)
    # The index and a record as the code before this change made them.
    await collection.create_index([("dedupe_key", 1)], unique=True)
    old = await (await upload(client, alice, jpeg_bytes(color="navy"), purpose="avatar")).json()
    await collection.update_one(
        {"_id": old["id"]},
        {"$set": {"dedupe_key": f"{alice.user_id}:x"}},
    )
    for _ in range(2):  # idempotent: every start runs it
        await service.repo.ensure_indexes()
    names = set(await collection.index_information())
    assert DEDUPE_INDEX in names
    assert "dedupe_key_1" not in names
    # The old record still deduplicates, by its fields; another purpose is another media.
    again = await (await upload(client, alice, jpeg_bytes(color="navy"), purpose="avatar")).json()
    assert again["id"] == old["id"]
    other = await upload(client, alice, jpeg_bytes(color="navy"), purpose="checkin")
    assert other.status == 201
    assert (await other.json())["id"] != old["id"]


async def test_new_ids_are_random_128_bits(client: Client, alice: Session) -> None:
    ids = [
        (await (await upload(client, alice, jpeg_bytes(color=c))).json())["id"]
        for c in ("red", "green", "blue")
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", media_id) for media_id in ids)
    # Neighbours share no prefix an ObjectId's time and counter would give them.
    assert len({media_id[:8] for media_id in ids}) == 3


async def test_media_with_an_objectid_still_resolve(client: Client, alice: Session) -> None:
    service = client.app[MEDIA_SERVICE]
    new = await (await upload(client, alice, jpeg_bytes(color="pink"), purpose="avatar")).json()
    doc = await service.repo.get(new["id"])
    assert doc is not None
    legacy = "5fa1c0de" + new["id"][:16]  # 24 hex digits: an ObjectId, as ids used to be
    await service.repo.collection.delete_one({"_id": new["id"]})
    await service.repo.collection.insert_one({**doc, "_id": as_object_id(legacy)})
    assert (await client.get(f"/media/{legacy}/thumb")).status == 200
    resp = await client.patch("/api/v1/me", json={"avatar_media_id": legacy}, headers=alice.headers)
    assert resp.status == 200
    assert (await resp.json())["avatar"]["id"] == legacy
    assert (await service.get_outs([legacy])).keys() == {legacy}


async def test_another_spelling_of_an_id_is_not_found_never_a_second_media(
    client: Client, alice: Session
) -> None:
    media = await (await upload(client, alice, jpeg_bytes(), purpose="avatar")).json()
    letter = next(i for i, c in enumerate(media["id"]) if c.isalpha())
    mixed = media["id"][:letter] + media["id"][letter].upper() + media["id"][letter + 1 :]
    for spelling in (media["id"].upper(), mixed):
        assert (await client.get(f"/media/{spelling}/thumb")).status == 404
        resp = await client.patch(
            "/api/v1/me", json={"avatar_media_id": spelling}, headers=alice.headers
        )
        assert resp.status == 422
        assert_error(await resp.json(), "media_not_found")
    doc = await client.app[MEDIA_SERVICE].repo.get(media["id"])
    assert doc is not None
    assert doc["referenced_by"] == []  # nothing was attached under another name
    assert (await client.get(local(media["urls"]["thumb"]))).status == 200


async def test_require_usable_checks_before_anything_is_written(
    client: Client, alice: Session
) -> None:
    service = client.app[MEDIA_SERVICE]
    public = await (await upload(client, alice, jpeg_bytes(color="gold"), purpose="story")).json()
    private = await (await upload(client, alice, jpeg_bytes(), purpose="checkin")).json()
    found = await service.require_usable([public["id"]], owner_id=alice.user_id, public=True)
    assert list(found) == [public["id"]]
    bob = await sign_in_wechat(client, "bob")
    refused = (
        service.require_usable([public["id"], private["id"]], public=True),  # a child's photo
        service.require_usable([public["id"]], owner_id=bob.user_id, public=False),
        service.require_usable([public["id"]], public=True, purposes={"avatar"}),
        service.require_usable(["f" * 32], public=False),
        service.require_usable([public["id"].upper()], public=False),
    )
    for check in refused:
        with pytest.raises(MediaNotFound):
            await check
    # A private object may use the private photo.
    assert private["id"] in await service.require_usable([private["id"]], public=False)
    after = await service.repo.get(private["id"])
    assert after is not None and after["referenced_by"] == []
