"""Saving uploaded images over REST: every refusal names the key and saves nothing of the batch;
a save or copy past the 200-image cap is a 400 (CONTRACT §3)."""
from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import datetime, timezone

import pytest

from tests.core_support import fill
from tests.images import make_gif, make_jpeg, make_png, make_text_file, make_truncated_jpeg, make_truncated_png, make_webp
from tests.rest_support import (  # noqa: F401 - fixtures
    RestCaller, assert_error, distinct_png, error_targets, other_org, realty, rest, upload_to,
)


@pytest.fixture
def app(shared_app):
    """The module's one app: every test here works on realties (properties) of its own."""
    return shared_app


def assert_refused(response, keys: list[str]) -> list[dict]:
    """400 BAD_REQUEST_BODY whose errors[] target exactly these keys."""
    body = assert_error(response, 400, "BAD_REQUEST_BODY")
    assert sorted(error_targets(response)) == sorted(keys), body
    return body["errors"]


@pytest.fixture
def existing(rest, realty) -> list[str]:
    """The realty already holds one image, so "nothing saved" is visible as "still exactly that one"."""
    return [i["realtyImageId"] for i in rest.add_images(realty, 1, start=900)]


def _saved_elsewhere(rest: RestCaller) -> str:
    key = rest.upload(distinct_png(77))
    rest.save_ok(str(uuid.uuid4()), [key])
    return key


@pytest.mark.parametrize("bad_upload", [
    pytest.param(lambda rest: rest.upload(make_text_file()), id="not-an-image"),
    pytest.param(lambda rest: rest.upload(make_truncated_png()), id="truncated-image"),
    # A JPEG is verified in DCT draft mode: still every entropy-coded byte is read, so this is caught at save.
    pytest.param(lambda rest: rest.upload(make_truncated_jpeg(1024, 768), "image/jpeg"), id="truncated-jpeg"),
    pytest.param(lambda rest: rest.upload(make_jpeg(), "image/png"), id="jpeg-under-png-grant"),
    pytest.param(lambda rest: rest.upload(make_png(), "image/webp"), id="png-under-webp-grant"),
    pytest.param(lambda rest: rest.upload(make_gif(), "image/png"), id="gif"),
    pytest.param(lambda rest: rest.grant_only(), id="never-uploaded"),
    pytest.param(lambda rest: "uploads/" + str(uuid.uuid4()), id="never-granted"),
    pytest.param(lambda rest: "images/whatever/original.png", id="not-an-upload-key"),
    pytest.param(lambda rest: _saved_elsewhere(rest), id="already-saved"),
])
def test_a_bad_key_fails_the_whole_batch(rest, realty, existing, bad_upload):
    good_before = rest.upload(distinct_png(1))
    bad = bad_upload(rest)
    good_after = rest.upload(distinct_png(2))

    response = rest.save(realty, [{"key": good_before}, {"key": bad}, {"key": good_after}])

    assert_refused(response, [bad])
    assert rest.ids(realty) == existing
    # The good keys were not used up by the failed batch.
    assert len(rest.save_ok(realty, [good_before, good_after])) == 2


def test_every_bad_key_is_reported_at_once(rest, realty, existing):
    text, wrong_type = rest.upload(make_text_file()), rest.upload(make_webp(), "image/jpeg")
    never = rest.grant_only()

    errors = assert_refused(rest.save(realty, [{"key": text}, {"key": rest.upload(distinct_png(3))},
                                               {"key": wrong_type}, {"key": never}]), [text, wrong_type, never])

    codes = {e["target"]: e["errorCode"] for e in errors}
    assert codes[wrong_type] == "INVALID_TYPE"
    assert codes[never] == "VALUE_REQUIRED"
    assert rest.ids(realty) == existing


def test_already_saved_key_cannot_be_saved_again(rest, realty):
    key = rest.upload(make_png())
    [first] = rest.save_ok(realty, [key])

    assert_refused(rest.save(realty, [{"key": key}]), [key])
    assert_refused(rest.save(str(uuid.uuid4()), [{"key": key}]), [key])
    assert rest.ids(realty) == [first["realtyImageId"]]


def test_a_key_listed_twice_is_refused(rest, realty):
    key = rest.upload(make_png())

    assert_refused(rest.save(realty, [{"key": key}, {"key": key}]), [key])
    assert rest.list(realty).status_code == 404  # nothing was written, so the realty does not exist


def test_failed_first_save_does_not_create_the_realty(rest, realty):
    text = rest.upload(make_text_file())

    assert_refused(rest.save(realty, [{"key": text}]), [text])
    assert_error(rest.list(realty), 404, "INVALID_ID")


def test_another_orgs_grant_cannot_be_saved(rest, other_org, realty):
    foreign_key = other_org.upload(make_png())
    own_realty = str(uuid.uuid4())

    errors = assert_refused(rest.save(own_realty, [{"key": foreign_key}]), [foreign_key])

    assert errors[0]["errorCode"] == "INVALID_ID"
    assert_error(rest.list(own_realty), 404, "INVALID_ID")
    # The owner still can.
    assert len(other_org.save_ok(realty, [foreign_key])) == 1


def test_an_expired_grant_cannot_be_saved(settings, make_token, realty):
    from wsgi import create_app

    # Long enough for the upload to be in time even on a busy machine (the POST policy's expiry is in
    # whole seconds); then wait until the grant has surely expired, by its own expiry.
    app = create_app(dataclasses.replace(settings, grant_ttl_seconds=5))
    try:
        rest = RestCaller(app.test_client(), make_token())
        grant = rest.grant().get_json()
        upload_to(rest.client, grant, make_png())
        key = grant["fields"]["key"]
        expires = datetime.fromisoformat(grant["expiresAt"].replace("Z", "+00:00"))
        time.sleep(max(0.0, (expires - datetime.now(timezone.utc)).total_seconds()) + 1)

        errors = assert_refused(rest.save(realty, [{"key": key}]), [key])
        assert errors[0]["errorCode"] == "BAD_REQUEST_BODY"
        assert_error(rest.list(realty), 404, "INVALID_ID")
    finally:
        app.extensions["realty"].close()


def test_upload_with_a_tampered_form_is_refused_by_storage(rest):
    grant = rest.grant().get_json()
    grant["fields"]["key"] = "uploads/" + str(uuid.uuid4())  # not the key the policy was signed for

    with pytest.raises(AssertionError):
        upload_to(rest.client, grant, make_png())


# --- the 200-image cap ---------------------------------------------------------------------------
# The cap itself (a full realty takes no more; a batch or a copy past it is refused whole; racing saves
# never pass it) is proven on the aggregate (tests/unit/test_realty.py), through the service on fakes
# (tests/unit/test_core_services.py) and on both databases (tests/integration/test_persistence.py). Here: how a refusal
# reaches a REST caller, on realties filled through the app's own service (tests/core_support.py).

def test_saves_past_the_cap_are_refused_whole_naming_uploaded_images(app, rest, realty):
    filled = [str(i.uuid) for i in fill(app, realty, 199)]
    keys = rest.upload_many([distinct_png(500), distinct_png(501)])

    refused = rest.save(realty, [{"key": k} for k in keys])  # 199 + 2

    assert_error(refused, 400, "BAD_REQUEST_BODY")
    assert error_targets(refused) == ["uploadedImages"]
    assert rest.ids(realty) == filled
    # The 200th fits; the 201st does not. The refused batch used up neither key.
    [last] = rest.save_ok(realty, [keys[0]])
    assert_error(rest.save(realty, [{"key": keys[1]}]), 400, "BAD_REQUEST_BODY")
    assert rest.ids(realty) == filled + [last["realtyImageId"]]
    # Room made by a delete is usable again, with the same key.
    assert rest.delete(realty, filled[0]).status_code == 200
    assert len(rest.save_ok(realty, [keys[1]])) == 1


def test_copy_that_would_pass_the_cap_is_refused(app, rest, realty):
    fill(app, realty, 150)
    source = str(uuid.uuid4())
    fill(app, source, 51)

    assert_error(rest.copy(realty, source), 400, "BAD_REQUEST_BODY")
    assert len(rest.images(realty)) == 150
