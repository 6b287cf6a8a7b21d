"""The REST facade's happy paths (CONTRACT §3), on the real app, through the test client."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

import pytest

from tests.images import make_jpeg, make_png, make_webp
from tests.rest_support import (  # noqa: F401 - fixtures
    ITEM_KEYS, RENDITION_NAMES, decode_graphql_id, distinct_png, local_path, other_org, realty, request_id, rest,
)


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here works on realties (properties) of its own."""
    return shared_app


# --- upload grants ---------------------------------------------------------------------------

def test_grant_is_a_presigned_post_for_an_uploads_key(rest):
    response = rest.grant("image/jpeg")

    assert response.status_code == 200
    grant = response.get_json()
    assert set(grant) >= {"url", "method", "fields", "expiresAt"}
    assert grant["method"] == "POST"
    assert grant["url"].startswith("http")
    fields = grant["fields"]
    for name in ("key", "Policy", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature"):
        assert isinstance(fields[name], str) and fields[name], name
    prefix, _, key_uuid = fields["key"].partition("/")
    assert prefix == "uploads" and uuid.UUID(key_uuid)
    assert datetime.fromisoformat(grant["expiresAt"]) > datetime.now(datetime.fromisoformat(grant["expiresAt"]).tzinfo)


def test_every_accepted_type_gets_a_grant_with_its_own_key(rest):
    keys = set()
    for content_type in ("image/jpeg", "image/png", "image/webp"):
        response = rest.grant(content_type)
        assert response.status_code == 200, content_type
        keys.add(response.get_json()["fields"]["key"])
    assert len(keys) == 3


# --- save and read -----------------------------------------------------------------------------

def test_saved_image_has_every_contract_field(rest, realty):
    data = make_png(64, 48)
    key = rest.upload(data)

    response = rest.save(realty, [{"key": key, "description": "Living room", "originalFileName": "living.png",
                                   "category": "GENERAL", "hero": True}])

    assert response.status_code == 201
    [item] = response.get_json()["realtyImages"]
    assert set(item) == ITEM_KEYS
    assert uuid.UUID(item["realtyImageId"])
    assert item["description"] == "Living room"
    assert item["originalFileName"] == "living.png"
    assert item["contentType"] == "image/png"
    assert (item["width"], item["height"]) == (64, 48)
    assert item["fileSize"] == len(data)
    assert item["imageHash"] == hashlib.md5(data).hexdigest()
    assert item["category"] == "GENERAL"
    assert item["hero"] is True
    assert item["published"] is False
    created = datetime.fromisoformat(item["creationTime"])
    assert created.tzinfo is not None
    assert datetime.fromisoformat(item["modificationTime"]) >= created
    graphql = decode_graphql_id(item["graphqlId"])
    assert list(graphql) == ["type", "id"]
    assert graphql["type"] == "Image" and isinstance(graphql["id"], int)
    assert (item["processing"], item["processingError"], item["renditions"]) == ("PENDING", None, {})
    [item] = rest.processed(realty)
    assert (item["processing"], item["processingError"]) == ("READY", None)
    assert set(item["renditions"]) == RENDITION_NAMES
    for rendition in item["renditions"].values():
        assert rendition["width"] <= 64 and rendition["height"] <= 48
        assert rendition["url"] != item["url"]


def test_url_downloads_the_original_bytes_without_a_credential(rest, realty):
    data = make_jpeg(40, 30)
    rest.save_ok(realty, [rest.upload(data, "image/jpeg", "a.jpg")])
    [item] = rest.processed(realty)

    assert rest.download(item["url"]) == data
    assert set(item["renditions"]) == RENDITION_NAMES
    for rendition in item["renditions"].values():
        data = rest.download(rendition["url"])
        if rendition["contentType"] == "image/webp":
            assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        else:
            assert rendition["contentType"] == "image/jpeg" and data[:2] == b"\xff\xd8"


def test_optional_fields_default_to_null_and_false(rest, realty):
    [item] = rest.save_ok(realty, [rest.upload(make_webp(), "image/webp")])

    assert item["description"] is None
    assert item["originalFileName"] is None
    assert item["category"] is None
    assert item["hero"] is False
    assert item["contentType"] == "image/webp"


def test_new_images_come_back_in_request_order_appended_after_existing(rest, realty):
    first = rest.add_images(realty, 2)
    keys = rest.upload_many(distinct_png(n) for n in range(10, 13))

    saved = rest.save_ok(realty, [{"key": k, "description": f"#{i}"} for i, k in enumerate(keys)])

    assert [i["description"] for i in saved] == ["#0", "#1", "#2"]
    assert rest.ids(realty) == [i["realtyImageId"] for i in first + saved]


def test_list_without_request_id_is_allowed_and_with_one_echoes_it(rest, realty):
    rest.add_images(realty, 1)
    rid = request_id()

    response = rest.client.get(f"/realty/{realty}/images", headers=rest.headers(False, **{"Request-ID": rid}))

    assert response.status_code == 200
    assert response.headers["Request-ID"] == rid


def test_request_id_is_echoed_on_success(rest, realty):
    rid = request_id()
    response = rest.client.get("/uploadGrants?type=image/png", headers=rest.headers(False, **{"Request-ID": rid}))
    assert response.status_code == 200
    assert response.headers["Request-ID"] == rid


def test_hero_moves_to_the_latest_saved_hero(rest, realty):
    [old] = rest.save_ok(realty, [{"key": rest.upload(distinct_png(1)), "hero": True}])
    [new] = rest.save_ok(realty, [{"key": rest.upload(distinct_png(2)), "hero": True}])

    heroes = {i["realtyImageId"]: i["hero"] for i in rest.images(realty)}
    assert heroes == {old["realtyImageId"]: False, new["realtyImageId"]: True}


# --- update (PUT) ----------------------------------------------------------------------------

def test_put_reorders_and_changes_metadata(rest, realty):
    a, b, c = (i["realtyImageId"] for i in rest.add_images(realty, 3))

    response = rest.update(realty, [
        {"realtyImageId": c, "description": "Kitchen", "category": "ROOM", "hero": True},
        {"realtyImageId": a},
        {"realtyImageId": b, "description": "Sauna"},
    ])

    assert response.status_code == 200
    assert response.get_json() == {}
    images = rest.images(realty)
    assert [i["realtyImageId"] for i in images] == [c, a, b]
    assert [(i["description"], i["category"], i["hero"]) for i in images] == [
        ("Kitchen", "ROOM", True), (None, None, False), ("Sauna", None, False)]


def test_put_absent_field_keeps_it_and_null_clears_it(rest, realty):
    [item] = rest.save_ok(realty, [{"key": rest.upload(make_png()), "description": "Balcony",
                                    "category": "COMMON_OUTDOOR_SPACES", "hero": True}])
    image_id = item["realtyImageId"]

    assert rest.update(realty, [{"realtyImageId": image_id}]).status_code == 200
    [kept] = rest.images(realty)
    assert (kept["description"], kept["category"], kept["hero"]) == ("Balcony", "COMMON_OUTDOOR_SPACES", True)

    assert rest.update(realty, [{"realtyImageId": image_id, "description": None, "category": None}]).status_code == 200
    [cleared] = rest.images(realty)
    assert (cleared["description"], cleared["category"], cleared["hero"]) == (None, None, True)

    assert rest.update(realty, [{"realtyImageId": image_id, "hero": False}]).status_code == 200
    assert rest.images(realty)[0]["hero"] is False


def test_put_changing_metadata_updates_modification_time(rest, realty):
    [item] = rest.add_images(realty, 1)

    rest.update(realty, [{"realtyImageId": item["realtyImageId"], "description": "new"}])

    [changed] = rest.images(realty)
    assert datetime.fromisoformat(changed["modificationTime"]) > datetime.fromisoformat(item["modificationTime"])
    assert changed["creationTime"] == item["creationTime"]


# --- publish / unpublish / delete --------------------------------------------------------------

def test_publish_all_when_body_is_absent_or_empty(rest, realty):
    rest.add_images(realty, 2)

    response = rest.client.post(f"/realty/{realty}/images/publish", headers=rest.headers())
    assert response.status_code == 200 and response.get_json() == {}
    assert [i["published"] for i in rest.images(realty)] == [True, True]

    assert rest.client.post(f"/realty/{realty}/images/unpublish", json={}, headers=rest.headers()).status_code == 200
    assert [i["published"] for i in rest.images(realty)] == [False, False]


def test_publish_and_unpublish_only_the_listed_images(rest, realty):
    a, b, c = (i["realtyImageId"] for i in rest.add_images(realty, 3))

    assert rest.publish(realty, [a, c]).status_code == 200
    assert [i["published"] for i in rest.images(realty)] == [True, False, True]

    assert rest.unpublish(realty, [c]).status_code == 200
    assert [i["published"] for i in rest.images(realty)] == [True, False, False]


def test_full_lifecycle(rest, other_org, realty):
    """grant → upload → save → list → PUT → publish → delete refused → unpublish → delete → copy → list."""
    blobs = [distinct_png(n, size=16) for n in range(3)]
    saved = rest.save_ok(realty, [{"key": rest.upload(data), "originalFileName": f"{n}.png"}
                                  for n, data in enumerate(blobs)])
    a, b, c = (i["realtyImageId"] for i in saved)
    assert rest.ids(realty) == [a, b, c]

    assert rest.update(realty, [{"realtyImageId": b, "hero": True}, {"realtyImageId": c},
                                {"realtyImageId": a}]).status_code == 200
    assert rest.ids(realty) == [b, c, a]

    assert rest.publish(realty).status_code == 200
    refused = rest.delete(realty, c)
    assert refused.status_code == 400 and refused.get_json()["errorCode"] == "INVALID_STATUS"
    assert rest.ids(realty) == [b, c, a]

    assert rest.unpublish(realty, [c]).status_code == 200
    deleted = rest.delete(realty, c)
    assert deleted.status_code == 200 and deleted.get_json() == {}
    assert rest.ids(realty) == [b, a]

    target = str(uuid.uuid4())
    rest.add_images(target, 1, start=50)
    copied = rest.copy(target, realty)
    assert copied.status_code == 200 and copied.get_json() == {}

    source_images = rest.images(realty)
    target_images = rest.images(target)
    assert len(target_images) == 3
    copies = target_images[1:]
    assert [i["imageHash"] for i in copies] == [i["imageHash"] for i in source_images]
    assert [i["originalFileName"] for i in copies] == ["1.png", "0.png"]
    assert not {i["realtyImageId"] for i in copies} & {i["realtyImageId"] for i in source_images}
    assert all(i["published"] is False for i in copies)
    assert [i["hero"] for i in copies] == [True, False]  # the target had no hero: the source's is kept
    for copy, original in zip(copies, source_images):
        assert rest.download(copy["url"]) == rest.download(original["url"])
        assert copy["processing"] == "READY" and copy["renditions"].keys() == original["renditions"].keys()

    # Copies share the stored bytes (no byte moves on copy), yet each image's bytes live as long as it
    # does: deleting the source's images leaves the copies intact.
    assert rest.unpublish(realty).status_code == 200
    for image_id in (b, a):
        assert rest.delete(realty, image_id).status_code == 200
    assert rest.images(realty) == []
    for copy, data in zip(rest.images(target)[1:], [blobs[1], blobs[0]]):
        assert rest.download(copy["url"]) == data

    # And nobody else sees any of it.
    assert other_org.list(target).status_code == 404


def test_copy_appends_after_existing_and_keeps_target_hero(rest, realty):
    source = str(uuid.uuid4())
    rest.save_ok(source, [{"key": rest.upload(distinct_png(1)), "hero": True}, rest.upload(distinct_png(2))])
    [own] = rest.save_ok(realty, [{"key": rest.upload(distinct_png(3)), "hero": True}])

    assert rest.copy(realty, source).status_code == 200

    images = rest.images(realty)
    assert images[0]["realtyImageId"] == own["realtyImageId"]
    assert [i["hero"] for i in images] == [True, False, False]


def test_copy_creates_the_target_realty(rest, realty):
    rest.add_images(realty, 2)
    target = str(uuid.uuid4())
    assert rest.list(target).status_code == 404

    assert rest.copy(target, realty).status_code == 200

    assert len(rest.images(target)) == 2


def test_delete_unpublished_image_removes_it_and_its_files(rest, realty):
    a, b = rest.add_images(realty, 2)

    assert rest.delete(realty, a["realtyImageId"]).status_code == 200

    assert rest.ids(realty) == [b["realtyImageId"]]
    assert rest.client.get(local_path(a["url"])).status_code == 404
