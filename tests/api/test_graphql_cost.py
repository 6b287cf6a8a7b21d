"""A request's cost is counted from its document and variables before anything runs (CONTRACT §7).

Lists multiply: `property { images { property { images { url } } } }` is only 5 deep, yet over
200-image properties it would sign 40,000 URLs; 640 aliases of `image(id:) { url renditions { url } }`
make 640 database round trips. Such a request is refused with BAD_USER_INPUT as a whole, and nothing
of it runs: no database query is made (counted on peewee's query log) and no mutation happens.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from typing import Iterator

import pytest
from graphql import build_schema, parse

from core.domain import MAX_IMAGES_PER_REALTY
from core.input_rules import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH
from graphql_api import make_schema
from graphql_api.answer_size import MAX_ANSWER_BYTES
from graphql_api.cost import MAX_COST, URL_COST, CostModel
from graphql_api.view import EXPLORER_QUERY
from tests.core_support import add_room_images, fill
from tests.graphql_support import (
    FULL_PROPERTY, create_property, create_room, data_of, decode_global_id, post_graphql, single_error, upload_property_image,
    upload_room_image,
)
from tests.images import make_jpeg
from tests.processing_support import wait_processed
from tests.rest_support import RestCaller


@pytest.fixture
def estate(client, token):
    """A property with a room, three property images and a room image."""
    prop = create_property(client, token, "Costly Court")
    room = create_room(client, token, prop["id"], "Attic")
    images = [upload_property_image(client, token, prop["id"], make_jpeg(8, 6)) for _ in range(3)]
    images.append(upload_room_image(client, token, room["id"], make_jpeg(8, 6)))
    wait_processed(client.application)  # render jobs query the database too
    return {"property": prop, "room": room, "images": images}


class _QueryLog(logging.Handler):
    """Statements sent by this thread, the one the test client runs the request on: the job threads
    beside it (renders, webhook fan-outs of the set-up's commits) query the database too."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self.count += 1


@contextlib.contextmanager
def database_queries() -> Iterator[_QueryLog]:
    """Counts the SQL statements peewee sends while the block runs."""
    logger, log = logging.getLogger("peewee"), _QueryLog()
    level = logger.level
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    try:
        yield log
    finally:
        logger.removeHandler(log)
        logger.setLevel(level)


def assert_refused(response) -> None:
    """Refused as a whole before execution: 400, one BAD_USER_INPUT error about the cost, no data."""
    assert response.status_code == 400, response.get_data(as_text=True)
    error = single_error(response)
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "cost" in error["message"]
    assert "data" not in response.get_json()


def refused_without_running(client, token, query: str, variables: dict | None = None) -> None:
    with database_queries() as log:
        response = post_graphql(client, token, query, variables)
    assert_refused(response)
    assert log.count == 0, "nothing of a refused request may run"


def _nested_images(levels: int, leaf: str) -> str:
    """`property { images { property { images { ... { leaf } } } } }` with `levels` image lists."""
    body = f"images {{ {leaf} }}"
    for _ in range(levels - 1):
        body = f"images {{ property {{ {body} }} }}"
    return "query($id: ID!) { property(id: $id) { " + body + " } }"


# --- what is refused -----------------------------------------------------------------------------------------

def test_aliased_image_lookups_are_refused_before_any_lookup(client, token, estate):
    image_id = estate["images"][0]["id"]
    # `image(id:) { url renditions { url } }` 640 times; the fragment keeps it within the parser's token limit.
    attack = "query($id: ID!) { " + " ".join(f"a{n}: image(id: $id) {{ ...I }}" for n in range(640)) + " } " \
             "fragment I on Image { url renditions { url } }"
    # CPU seconds of this process, not wall-clock ones: counting is work, and on a busy machine a wall
    # clock also measures everyone else's (4.4 s for this at a load average of 17).
    started = time.process_time()
    refused_without_running(client, token, attack, {"id": image_id})
    assert time.process_time() - started < 2, "counting is quick"
    # Aliases are counted, not forbidden: fifty of them are fine.
    fine = "query($id: ID!) { " + " ".join(f"a{n}: image(id: $id) {{ url }}" for n in range(50)) + " }"
    assert len(data_of(post_graphql(client, token, fine, {"id": image_id}))) == 50


def test_nested_lists_multiply_whatever_the_data_holds(client, token, estate):
    variables = {"id": estate["property"]["id"]}
    assert len(data_of(post_graphql(client, token, _nested_images(1, "url"), variables))["property"]["images"]) == 4
    assert len(data_of(post_graphql(client, token, _nested_images(2, "id"), variables))["property"]["images"]) == 4
    # Counted at the most a property can hold, so a small property gives no way around it.
    refused_without_running(client, token, _nested_images(2, "url"), variables)
    refused_without_running(client, token, _nested_images(3, "id"), variables)


def test_fragments_cannot_hide_the_cost(client, token, estate):
    query = """query($id: ID!) { property(id: $id) { ...P } }
      fragment P on Property { images { property { ...Q } } }
      fragment Q on Property { images { url } }"""
    refused_without_running(client, token, query, {"id": estate["property"]["id"]})
    inline = """query($id: ID!) { node(id: $id) { ... on Property { images { ... on Image { property {
      images { url } } } } } } }"""
    refused_without_running(client, token, inline, {"id": estate["property"]["id"]})


def test_a_fragment_bomb_is_counted_quickly_and_as_execution_merges_it(client, token, estate):
    """Each fragment spreads the next twice: 2**40 spreads unfolded, one `images { url }` executed."""
    fragments = [f"fragment F{n} on Property {{ ...F{n + 1} ...F{n + 1} }}" for n in range(40)]
    fragments.append("fragment F40 on Property { images { url } }")
    query = "query($id: ID!) { property(id: $id) { ...F0 } } " + " ".join(fragments)
    started = time.process_time()
    data = data_of(post_graphql(client, token, query, {"id": estate["property"]["id"]}))
    assert time.process_time() - started < 2
    assert len(data["property"]["images"]) == 4


def test_skip_and_include_are_applied_with_the_variables(client, token, estate):
    query = """query($id: ID!, $deep: Boolean!, $shallow: Boolean!) { property(id: $id) {
      images @include(if: $deep) { property { images { url } } }
      more: images @skip(if: $shallow) { property { images { url } } }
      imageCount } }"""
    variables = {"id": estate["property"]["id"]}
    data = data_of(post_graphql(client, token, query, {**variables, "deep": False, "shallow": True}))
    assert data == {"property": {"imageCount": 4}}
    refused_without_running(client, token, query, {**variables, "deep": True, "shallow": True})
    refused_without_running(client, token, query, {**variables, "deep": False, "shallow": False})


def test_properties_cost_as_many_as_the_ids_asked(client, token, estate):
    query = "query($ids: [ID!]!) { properties(ids: $ids) { images { url renditions { url } } } }"
    assert len(data_of(post_graphql(client, token, query, {"ids": [estate["property"]["id"]] * 2}))["properties"]) == 2
    refused_without_running(client, token, query, {"ids": [estate["property"]["id"]] * 20})


def test_a_mutation_over_budget_does_not_happen(client, token, estate):
    target = str(uuid.uuid4())
    query = """mutation($copy: CopyImagesInput!, $delete: DeleteImageInput!) {
      deleteImage(input: $delete) { success }
      copyImages(input: $copy) { images { property { images { url } } } } }"""
    refused_without_running(client, token, query, {
        "delete": {"id": estate["images"][0]["id"]},
        "copy": {"sourcePropertyId": estate["property"]["id"], "targetPropertyId": target}})
    images = data_of(post_graphql(client, token, "query($id: ID!) { property(id: $id) { images { id } } }",
                                  {"id": estate["property"]["id"]}))["property"]["images"]
    assert [i["id"] for i in images] == [i["id"] for i in estate["images"]]
    assert data_of(post_graphql(client, token, "query($id: ID!) { property(id: $id) { id } }",
                                {"id": target})) == {"property": None}


def test_many_property_lookups_are_refused(client, token, estate):
    """Every `property` lookup reads the property with all its images."""
    aliased = "query($id: ID!) { " + " ".join(f"p{n}: property(id: $id) {{ id }}" for n in range(50)) + " }"
    refused_without_running(client, token, aliased, {"id": estate["property"]["id"]})


# --- what passes ---------------------------------------------------------------------------------------------

def test_every_field_of_the_fullest_property_stays_within_the_cost_budget():
    """Every field of a property, rooms, renditions and URLs included, counted as the request is: before
    anything runs, with each list at its largest (200 images), so whatever the property really holds."""
    model = CostModel(make_schema())
    cost = model.cost(parse(FULL_PROPERTY), None, {"id": "any"})
    assert MAX_IMAGES_PER_REALTY * URL_COST * 4 < cost <= model.max_cost == MAX_COST
    assert model.check(parse(FULL_PROPERTY), None, {"id": "any"}) == []


def test_a_full_property_answers_every_field(app, client, token):
    """The budget above holds at the cap: a property with 200 images, 20 of them in a room, answers it."""
    prop = create_property(client, token, "Full House")
    room = create_room(client, token, prop["id"])
    # Through the app's own service: 200 uploads over HTTP would prove nothing more.
    add_room_images(app, prop["realtyId"], decode_global_id(room["id"])["id"], 20)
    fill(app, prop["realtyId"], 180)
    data = data_of(post_graphql(client, token, FULL_PROPERTY, {"id": prop["id"]}))
    assert len(data["property"]["images"]) == 200
    assert len(data["property"]["rooms"][0]["images"]) == 20
    assert sum(len(i["renditions"]) for i in data["property"]["images"]) >= 180 * 3, "rendition URLs signed too"


def test_what_clients_really_ask_stays_within_the_cost(client, token, estate):
    data = data_of(post_graphql(client, token, EXPLORER_QUERY, {"id": estate["property"]["id"]}))
    assert len(data["property"]["images"]) == 4
    rooms_with_images = """query($id: ID!) { property(id: $id) {
        rooms { id name images { id realtyImageId url type category hero active status filename source } }
        images { id url renditions { name url width height } property { id } room { id name } } } }"""
    data = data_of(post_graphql(client, token, rooms_with_images, {"id": estate["property"]["id"]}))
    assert [len(r["images"]) for r in data["property"]["rooms"]] == [1]
    several = "query($ids: [ID!]!) { properties(ids: $ids) { id name imageCount hero { id url } images { id url } } }"
    data = data_of(post_graphql(client, token, several, {"ids": [estate["property"]["id"]] * 10}))
    assert len(data["properties"]) == 10
    light = "query($ids: [ID!]!) { properties(ids: $ids) { id name imageCount hero { id url } } }"
    data = data_of(post_graphql(client, token, light, {"ids": [estate["property"]["id"]] * 100}))
    assert len(data["properties"]) == 100  # one id read once, answered a hundred times
    image = """query($id: ID!) { image(id: $id) { id url renditions { url } property { name images { id url } }
        room { name } } }"""
    assert data_of(post_graphql(client, token, image, {"id": estate["images"][3]["id"]}))["image"]["room"]


# --- answers bounded in bytes (issue 20, finding 5) --------------------------------------------------------

EVERY_FIELD = """
query($id: ID!) {
  property(id: $id) {
    id realtyId name externalId createdAt imageCount
    hero { ...Every }
    rooms { id name createdAt property { id } images { ...Every } }
    images { ...Every property { id name } room { id name } }
  }
}
fragment Every on Image {
  id realtyImageId type category hero active status imageHash source filename originalFileName description position
  width height size contentType url processing processingError createdAt modifiedAt
  renditions { name url width height contentType }
}"""

LONGEST_DESCRIPTION = "\x01" * MAX_DESCRIPTION_LENGTH
"""A text at its dearest: a control character is stored as given and answered as `\\u0001`, 6 bytes."""


def assert_refused_for_its_size(response) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    error = single_error(response)
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "answer" in error["message"] and f"{MAX_ANSWER_BYTES // 2**20} MB" in error["message"], error["message"]
    assert "data" not in response.get_json()


def describe(client, token, realty_id: str, description: str) -> None:
    """Every image of the realty gets `description` (REST: one PUT for them all)."""
    rest = RestCaller(client, token)
    ids = [i["realtyImageId"] for i in rest.list(realty_id).get_json()["realtyImages"]]
    response = rest.update(realty_id, [{"realtyImageId": i, "description": description} for i in ids])
    assert response.status_code == 200, response.get_data(as_text=True)[:500]


def test_aliased_long_texts_are_refused_before_anything_runs(client, token, estate):
    """220 aliases of `description` cost 44,000, within MAX_COST; over 200 images of 4,000-character
    descriptions they answered 529 MB. Counted in bytes, each text at its longest, they are refused."""
    describe(client, token, estate["property"]["realtyId"], LONGEST_DESCRIPTION)
    attack = "query($id: ID!) { property(id: $id) { images { " + \
        " ".join(f"d{n}: description" for n in range(220)) + " } } }"

    with database_queries() as log:
        response = post_graphql(client, token, attack, {"id": estate["property"]["id"]})
    assert_refused_for_its_size(response)
    assert log.count == 0, "nothing of a refused request may run"

    # Lists multiply bytes as they multiply cost: each property asked for may hold 200 long descriptions.
    several = "query($ids: [ID!]!) { properties(ids: $ids) { images { description } } }"
    assert_refused_for_its_size(post_graphql(client, token, several, {"ids": [estate["property"]["id"]] * 8}))
    data = data_of(post_graphql(client, token, several, {"ids": [estate["property"]["id"]] * 2}))
    assert [len(p["images"]) for p in data["properties"]] == [4, 4]
    assert data["properties"][0]["images"][0]["description"] == LONGEST_DESCRIPTION


def test_every_field_of_the_fullest_property_stays_within_the_answer_size():
    """Counted as the cost is, before anything runs, with each list at its largest and each text at its longest."""
    model = CostModel(make_schema())
    size = model.answer_size(parse(EVERY_FIELD), None, {"id": "any"})
    assert 2 * MAX_IMAGES_PER_REALTY * 6 * MAX_DESCRIPTION_LENGTH < size <= MAX_ANSWER_BYTES
    assert model.check(parse(EVERY_FIELD), None, {"id": "any"}) == []


def test_a_full_property_of_the_longest_texts_answers_every_field_within_the_counted_size(app, client, token):
    """The bound holds on real answers: 200 images, each with the dearest 4,000-character description, a
    property and a room with the longest names, every field asked (room images twice)."""
    prop = create_property(client, token, "\x01" * MAX_NAME_LENGTH, external_id="\x01" * MAX_NAME_LENGTH)
    room = create_room(client, token, prop["id"], "\x01" * MAX_NAME_LENGTH)
    add_room_images(app, prop["realtyId"], decode_global_id(room["id"])["id"], 20)
    fill(app, prop["realtyId"], 180)
    describe(client, token, prop["realtyId"], LONGEST_DESCRIPTION)

    response = post_graphql(client, token, EVERY_FIELD, {"id": prop["id"]})
    data = data_of(response)
    assert len(data["property"]["images"]) == 200 and len(data["property"]["rooms"][0]["images"]) == 20
    assert {i["description"] for i in data["property"]["images"]} == {LONGEST_DESCRIPTION}
    counted = CostModel(make_schema()).answer_size(parse(EVERY_FIELD), None, {"id": prop["id"]})
    assert 200 * 6 * MAX_DESCRIPTION_LENGTH < len(response.get_data()) <= counted <= MAX_ANSWER_BYTES


def test_a_field_without_a_largest_size_stops_the_start():
    """A field added to the schema without its largest size would be counted at none: the gateway says so
    when it starts instead."""
    schema = build_schema("type Query { note: String count: Int ratio: Float }")
    with pytest.raises(ValueError, match=r"Query\.note, Query\.ratio$"):
        CostModel(schema)
