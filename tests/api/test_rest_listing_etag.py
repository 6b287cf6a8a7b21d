"""GET /realty/{realtyId}/images: ETag, If-None-Match and 304, byte-identical repeats (CONTRACT §7)."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.images import make_photo_jpeg
from tests.rest_support import (  # noqa: F401 - fixtures
    assert_error, distinct_png, other_org, realty, request_id, rest,
)

WINDOW = 6 * 24 * 3600
"""Long enough that no test here straddles the turn of a signing window (when URLs, and the ETag, change)."""


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, url_window_seconds=WINDOW)


def _get(caller, realty, **headers):
    return caller.client.get(f"/realty/{realty}/images", headers=caller.headers(with_request_id=False, **headers))


def _etag(response) -> str:
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 20, etag
    return etag


def test_a_listing_carries_an_etag_and_repeats_byte_for_byte(rest, realty):
    rest.add_images(realty, 3)
    first, second = _get(rest, realty), _get(rest, realty)
    assert first.status_code == second.status_code == 200
    assert _etag(first) == _etag(second)
    assert first.get_data() == second.get_data()
    assert first.headers["Cache-Control"] == "private, no-cache"


def test_if_none_match_with_the_etag_is_304_without_a_body(rest, realty):
    rest.add_images(realty, 2)
    etag = _etag(_get(rest, realty))
    rid = request_id()
    for sent in (etag, f"W/{etag}", f'"something-else", {etag}'):
        response = _get(rest, realty, **{"If-None-Match": sent, "Request-ID": rid})
        assert response.status_code == 304, sent
        assert response.get_data() == b""
        assert response.headers["ETag"] == etag
        assert response.headers["Request-ID"] == rid
        assert "Content-Type" not in response.headers
    stale = _get(rest, realty, **{"If-None-Match": '"not-this-one"'})
    assert stale.status_code == 200 and _etag(stale) == etag


def test_the_listing_is_what_the_documented_schema_gives(rest, realty):
    """The listing is encoded without marshmallow; the 201 of a save still goes through the schema."""
    saved = rest.save_ok(realty, [{"key": rest.upload(distinct_png(1)), "description": "Sauna", "hero": True,
                                   "originalFileName": "sauna.png", "category": "ROOM"},
                                  {"key": rest.upload(distinct_png(2))}])
    listed = rest.images(realty)
    # Render jobs may finish between the save and the listing: what they change is left out.
    rendered = ("processing", "processingError", "renditions")
    assert [{k: v for k, v in i.items() if k not in rendered} for i in listed] == \
        [{k: v for k, v in i.items() if k not in rendered} for i in saved]
    assert [set(i) for i in listed] == [set(i) for i in saved]


def test_every_change_to_the_images_changes_the_etag(rest, realty):
    source = str(uuid.uuid4())
    rest.add_images(source, 2, start=100)
    [first, second] = rest.add_images(realty, 2)
    seen = [_etag(_get(rest, realty))]

    def changed(response) -> None:
        assert response.status_code in (200, 201), response.get_data(as_text=True)
        answer = _get(rest, realty, **{"If-None-Match": seen[-1]})
        assert answer.status_code == 200, "a changed listing is sent again"
        assert _etag(answer) not in seen
        seen.append(_etag(answer))

    changed(rest.save(realty, [{"key": rest.upload(distinct_png(3))}]))
    third = rest.ids(realty)[2]
    changed(rest.update(realty, [{"realtyImageId": i} for i in (second["realtyImageId"], first["realtyImageId"],
                                                                 third)]))
    changed(rest.update(realty, [{"realtyImageId": i, "description": "new words" if i == third else None}
                                 for i in (second["realtyImageId"], first["realtyImageId"], third)]))
    changed(rest.publish(realty, [first["realtyImageId"]]))
    changed(rest.unpublish(realty))
    changed(rest.delete(realty, third))
    changed(rest.copy(realty, source))
    assert len(rest.ids(realty)) == 4


def test_another_org_cannot_use_or_validate_an_etag(rest, other_org, realty):
    rest.add_images(realty, 1)
    etag = _etag(_get(rest, realty))
    response = _get(other_org, realty, **{"If-None-Match": etag})
    assert_error(response, 404, "INVALID_ID")
    assert "ETag" not in response.headers

    # The same bytes listed for two orgs (an emptied realty) still have different ETags.
    mine, theirs = realty, str(uuid.uuid4())
    [image] = rest.images(mine)
    rest.delete(mine, image["realtyImageId"])
    [their_image] = other_org.add_images(theirs, 1)
    other_org.delete(theirs, their_image["realtyImageId"])
    my_empty, their_empty = _get(rest, mine), _get(other_org, theirs)
    assert my_empty.get_data() == their_empty.get_data()
    assert _etag(my_empty) != _etag(their_empty)
    assert _get(other_org, theirs, **{"If-None-Match": _etag(my_empty)}).status_code == 200


def test_etag_and_if_none_match_are_documented(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/realty/{realtyId}/images"]["get"]
    assert any(p["in"] == "header" and p["name"] == "If-None-Match" for p in operation["parameters"])
    assert "ETag" in operation["responses"]["200"]["headers"]
    assert "ETag" in operation["responses"]["304"]["headers"]
    assert "content" not in operation["responses"]["304"]


def test_processing_finished_changes_the_listing_and_its_etag(rest, realty):
    """A kept listing is never served once its images changed, also by a render job in the background."""
    # Big enough that rendering takes a while after the save answers.
    [saved] = rest.save_ok(realty, [rest.upload(make_photo_jpeg(3000, 2000), "image/jpeg", "big.jpg")])
    pending = _get(rest, realty)
    assert pending.get_json()["realtyImages"][0]["processing"] == "PENDING"
    assert _get(rest, realty).get_data() == pending.get_data()
    [done] = rest.processed(realty)
    ready = _get(rest, realty, **{"If-None-Match": _etag(pending)})
    assert ready.status_code == 200 and _etag(ready) != _etag(pending)
    assert ready.get_json()["realtyImages"] == [done] and done["processing"] == "READY"
    assert saved["processing"] == "PENDING"
