"""The floors `bench/listing.py` compares the gateway with: apps that do nothing but answer the same JSON.

    gunicorn 'bench.bare_apps:bare_flask()'     BENCH_LISTING=<file>: serves that JSON document
    gunicorn 'bench.bare_apps:bare_ariadne()'   BENCH_GRAPHQL=<file>: resolves property{images} from it

Each reads, at start-up, a file the benchmark wrote from the gateway's own answer, so the bytes on the
wire are the gateway's. The Flask floor serializes the document on every request (as any Flask view
returning data does); the Ariadne floor is Ariadne's own WSGI app over the schema subset the benchmark
queries, resolving every field from plain dicts in memory with Ariadne's default resolvers: no
authentication, no database, no signing.
"""
from __future__ import annotations

import json
import os
from typing import Any

IMAGE_FIELDS = ("id", "realtyImageId", "type", "category", "hero", "active", "status", "imageHash", "filename",
                "source", "position", "url")
"""The twelve Image fields the GraphQL benchmark asks for."""

SDL = """
enum ImageType { PROPERTY_IMAGE ROOM_IMAGE FLOOR_PLAN_IMAGE }
enum ImageCategory { BUILDING_EXTERIOR COMMON_INDOOR_SPACES COMMON_OUTDOOR_SPACES GENERAL ROOM SPECIFIC MAP }
enum ImageStatus { INTERNAL_NEW EXTERNAL_NEW PENDING APPROVED REJECTED }
type Query { property(id: ID!): Property }
type Property { id: ID! images: [Image!]! }
type Image {
  id: ID! realtyImageId: ID! type: ImageType! category: ImageCategory hero: Boolean! active: Boolean!
  status: ImageStatus! imageHash: String! filename: String! source: String! position: Int! url: String!
}
"""


def graphql_query() -> str:
    return "query($id: ID!) { property(id: $id) { images { " + " ".join(IMAGE_FIELDS) + " } } }"


def _load(variable: str) -> Any:
    with open(os.environ[variable], encoding="utf-8") as f:
        return json.load(f)


def bare_flask():
    from flask import Flask, jsonify

    document = _load("BENCH_LISTING")
    app = Flask("bare_flask")

    @app.get("/realty/<realty_id>/images")
    def listing(realty_id: str):
        return jsonify(document)

    return app


def bare_ariadne():
    from ariadne import QueryType, make_executable_schema
    from ariadne.wsgi import GraphQL

    answer = _load("BENCH_GRAPHQL")["data"]["property"]
    query = QueryType()

    @query.field("property")
    def resolve_property(*_: Any, id: str) -> dict[str, Any]:
        return answer

    return GraphQL(make_executable_schema(SDL, query))
