"""The GraphQL facade: an Ariadne schema (SDL in `schema/`) over the core (commands and views).

`init_app` mounts `POST /graphql` (JSON and GraphQL multipart requests) and the explorer on
`GET /graphql` (its files under /graphql/static/). Resolvers call only the core (`core.api.CoreApi`: commands, views);
this package never imports the REST facade or the adapters.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from ariadne import load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"


@cache
def make_schema() -> GraphQLSchema:
    """The executable schema; the SDL is read relative to this package, never the working directory.

    Built once per process: the SDL files and the resolvers bound to it are fixed, and the schema holds
    no state of an app (each request's core and caller travel in its context), so every app a
    process creates (tests make hundreds) shares it instead of parsing the SDL again.
    """
    from graphql_api.resolvers import bindables

    return make_executable_schema(load_schema_from_path(SCHEMA_DIR), *bindables)


def init_app(app, core, authenticator, *, max_file_bytes: int, max_files: int, max_request_bytes: int) -> None:
    from graphql_api.explorer import create_explorer_blueprint
    from graphql_api.multipart import UploadLimits
    from graphql_api.view import GraphQLView

    limits = UploadLimits(max_file_bytes=max_file_bytes, max_files=max_files, max_request_bytes=max_request_bytes)
    view = GraphQLView(make_schema(), core, authenticator, limits)
    app.add_url_rule("/graphql", endpoint="graphql", view_func=view.dispatch,
                     methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    app.register_blueprint(create_explorer_blueprint())
    app.extensions["graphql_api"] = view


__all__ = ["init_app", "make_schema"]
