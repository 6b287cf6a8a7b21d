"""The change feed over both APIs (CONTRACT §10): GET /events and GraphQL `events`, the same events."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.graphql_support import data_of, post_graphql, single_error
from tests.processing_support import wait_processed
from tests.rest_support import RestCaller, distinct_png

GRAPHQL_EVENTS = """query($after: String, $first: Int, $wait: Float) {
  events(after: $after, first: $first, wait: $wait) {
    next events { id type occurredAt data { realtyId realtyImageId graphqlId image } } } }"""


@pytest.fixture
def rest(client, make_token) -> RestCaller:
    return RestCaller(client, make_token(org="org-a"))


def feed(rest: RestCaller, **query) -> dict:
    response = rest.client.get("/events", query_string=query, headers=rest.headers(False))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_save_and_its_rendering_are_in_the_feed_with_the_listing_item(app, rest):
    realty = str(uuid.uuid4())
    [item] = rest.save_ok(realty, rest.upload_many([distinct_png(1)]))
    wait_processed(app)
    page = feed(rest)
    assert [e["type"] for e in page["events"]] == ["image.created", "image.processed"]
    created, processed = page["events"]
    assert created["data"]["realtyId"] == realty and created["data"]["realtyImageId"] == item["realtyImageId"]
    assert created["data"]["graphqlId"] == item["graphqlId"] and created["occurredAt"].endswith("Z")
    assert processed["data"]["image"]["processing"] == "READY"
    # Duplicates are the org's, not the image's: read with a listing, not frozen into an event (CONTRACT §11).
    listed = {k: v for k, v in rest.images(realty)[0].items() if k != "duplicates"}
    assert processed["data"]["image"] == listed, "the item as the listing shows it"
    assert rest.download(processed["data"]["image"]["renditions"]["thumbnail"]["url"])[:2] == b"\xff\xd8"
    assert rest.download(processed["data"]["image"]["url"]) == distinct_png(1)
    assert feed(rest, after=page["next"]) == {"events": [], "next": page["next"]}


def test_both_apis_page_through_the_same_events(app, rest, token, client):
    realty = str(uuid.uuid4())
    rest.save_ok(realty, rest.upload_many([distinct_png(n) for n in range(3)]))
    wait_processed(app)
    rest_ids, graphql_ids, after, graphql_after = [], [], None, None
    while True:
        page = feed(rest, **({"after": after} if after else {}), limit=2)
        if not page["events"]:
            break
        rest_ids += [e["id"] for e in page["events"]]
        after = page["next"]
    while True:
        page = data_of(post_graphql(client, token, GRAPHQL_EVENTS, {"after": graphql_after, "first": 2}))["events"]
        if not page["events"]:
            break
        graphql_ids += [e["id"] for e in page["events"]]
        graphql_after = page["next"]
    assert len(rest_ids) == 6 and rest_ids == graphql_ids and graphql_after == after


def test_another_orgs_events_are_not_in_the_feed(app, rest, make_token):
    rest.save_ok(str(uuid.uuid4()), rest.upload_many([distinct_png(1)]))
    other = RestCaller(rest.client, make_token(org="org-b"))
    assert feed(other) == {"events": [], "next": "0"}


def test_a_long_poll_is_answered_when_a_change_is_committed(app, rest):
    start = feed(rest)["next"]
    answered: list = []
    poll = threading.Thread(target=lambda: answered.append((feed(rest, after=start, wait=20), time.monotonic())))
    poll.start()
    time.sleep(0.5)
    assert not answered, "held open while nothing happens"
    saved_at = time.monotonic()
    rest.save_ok(str(uuid.uuid4()), rest.upload_many([distinct_png(7)]))
    poll.join(20)
    page, at = answered[0]
    assert page["events"][0]["type"] == "image.created"
    assert at - saved_at < 2, "woken by the commit, not at the end of the wait"


def test_a_long_poll_with_nothing_new_ends_after_its_wait(rest):
    started = time.monotonic()
    page = feed(rest, wait=0.5)
    assert page["events"] == [] and 0.4 < time.monotonic() - started < 5


@pytest.mark.parametrize("query, target", [({"after": "abc"}, "after"), ({"after": "99"}, "after"),
                                           ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"),
                                           ({"wait": 31}, "wait")])
def test_bad_parameters_are_400(rest, query, target):
    response = rest.client.get("/events", query_string=query, headers=rest.headers(False))
    assert response.status_code == 400
    body = response.get_json()
    assert body["errorCode"] == "BAD_REQUEST_PARAMETERS" and body["errors"][0]["target"] == target


def test_a_cursor_older_than_the_events_kept_is_410_and_bad_user_input(app, rest, token, client):
    rest.save_ok(str(uuid.uuid4()), rest.upload_many([distinct_png(1), distinct_png(2)]))
    wait_processed(app)
    with app.extensions["realty"].database() as uow:  # what gc does once the events are old enough
        assert uow.events.prune(datetime.now(timezone.utc) + timedelta(days=1), 100) == 4
        uow.commit()
    response = rest.client.get("/events", query_string={"after": "1"}, headers=rest.headers(False))
    assert response.status_code == 410 and response.get_json()["errorCode"] == "CURSOR_EXPIRED"
    error = single_error(post_graphql(client, token, GRAPHQL_EVENTS, {"after": "1"}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "no longer kept" in error["message"]
    assert feed(rest, after="4") == {"events": [], "next": "4"}, "the newest cursor still reads on"
    assert feed(rest)["next"] == "4", "without a cursor: from the oldest kept"
