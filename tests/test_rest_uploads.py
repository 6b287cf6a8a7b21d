"""Saving uploaded images over REST: every refusal names the key and saves nothing of the batch;
the 200-image cap holds, also when two requests race (CONTRACT §3)."""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pytest

from tests.images import make_gif, make_jpeg, make_png, make_text_file, make_truncated_jpeg, make_truncated_png, make_webp
from tests.rest_support import (  # noqa: F401 - fixtures
    RestCaller, assert_error, distinct_png, error_targets, other_org, realty, rest, upload_to,
)


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

    # Two seconds, so the upload itself is surely in time on a loaded machine (the POST policy's expiry
    # is in whole seconds); then wait until the grant has surely expired.
    app = create_app(dataclasses.replace(settings, grant_ttl_seconds=2))
    try:
        rest = RestCaller(app.test_client(), make_token())
        key = rest.upload(make_png())
        time.sleep(2.5)

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

def test_two_hundred_images_fit_and_the_201st_is_refused(rest, realty):
    saved = rest.add_images(realty, 200)
    assert len(saved) == 200
    extra = rest.upload(distinct_png(1000))

    response = rest.save(realty, [{"key": extra}])

    assert_error(response, 400, "BAD_REQUEST_BODY")
    assert rest.ids(realty) == [i["realtyImageId"] for i in saved]
    # Room made by a delete is usable again, with the same key.
    assert rest.delete(realty, saved[0]["realtyImageId"]).status_code == 200
    assert len(rest.save_ok(realty, [extra])) == 1


def test_a_batch_that_would_pass_the_cap_is_refused_whole(rest, realty):
    rest.add_images(realty, 199)
    keys = rest.upload_many([distinct_png(500), distinct_png(501)])

    assert_error(rest.save(realty, [{"key": k} for k in keys]), 400, "BAD_REQUEST_BODY")
    assert len(rest.images(realty)) == 199


def test_copy_that_would_pass_the_cap_is_refused(rest, realty):
    rest.add_images(realty, 150)
    source = str(uuid.uuid4())
    rest.add_images(source, 51, start=300)

    assert_error(rest.copy(realty, source), 400, "BAD_REQUEST_BODY")
    assert len(rest.images(realty)) == 150


def test_racing_saves_never_pass_the_cap(app, make_token, realty):
    """Two requests of 150 images each for one realty at once: one wins, the other gets a clear 400."""
    token = make_token()
    uploader = RestCaller(app.test_client(), token)
    batches = [uploader.upload_many(distinct_png(b * 1000 + n) for n in range(150)) for b in range(2)]
    start = threading.Barrier(2)
    responses: list = [None, None]

    def save(slot: int) -> None:
        caller = RestCaller(app.test_client(), token)  # a client per thread
        start.wait()
        responses[slot] = caller.save(realty, [{"key": k} for k in batches[slot]])

    threads = [threading.Thread(target=save, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 400], [r.get_json() for r in responses]
    loser = next(r for r in responses if r.status_code == 400)
    assert_error(loser, 400, "BAD_REQUEST_BODY")
    assert "200" in loser.get_json()["message"] + str(loser.get_json().get("errors"))
    winner = next(r for r in responses if r.status_code == 201)

    images = uploader.images(realty)
    ids = [i["realtyImageId"] for i in images]
    assert len(ids) == 150 <= 200
    assert len(set(ids)) == len(ids)
    assert ids == [i["realtyImageId"] for i in winner.get_json()["realtyImages"]]
    # Stored positions (not exposed over REST) are contiguous from 0, in list order.
    from core.ports import Caller

    stored = app.extensions["realty"].service.realty(Caller(sub="agent-1", org="org-a"), uuid.UUID(realty))
    assert [str(i.uuid) for i in stored.images] == ids
    assert [i.position for i in stored.images] == list(range(len(ids)))
