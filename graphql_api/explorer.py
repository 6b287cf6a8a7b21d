"""The GraphQL explorer on GET /graphql: GraphiQL with the explorer plugin, every file served by the gateway.

Ariadne's ExplorerGraphiQL loads GraphiQL, React and the plugin from a CDN, so without internet access
the page never leaves "Loading…". This is the same page on Ariadne's Explorer interface, rendered with
the vendored files in `static/graphiql/` (see scripts/vendor-assets.sh).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ariadne.explorer import Explorer
from flask import Blueprint, url_for
from jinja2 import Environment, FileSystemLoader, select_autoescape

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_URL_PATH = "/graphql/static"

# The page runs only our own scripts; GraphiQL styles itself inline, and its fonts are data: URLs.
EXPLORER_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                "frame-ancestors 'none'; form-action 'none'")


def create_explorer_blueprint() -> Blueprint:
    """Serves the explorer's static files under /graphql/static/ (found next to this module)."""
    return Blueprint("graphql_explorer", __name__, static_folder=str(STATIC_DIR), static_url_path=STATIC_URL_PATH)


class LocalGraphiQL(Explorer):
    def __init__(self, title: str, default_query: str) -> None:
        environment = Environment(loader=FileSystemLoader(PACKAGE_DIR / "templates"),
                                  autoescape=select_autoescape(default=True))
        self._template = environment.get_template("graphiql.html")
        self._title = title
        self._default_query = default_query

    def html(self, request: Any) -> str:
        # url_for per request: the app may be mounted under a path prefix (SCRIPT_NAME).
        def asset(name: str) -> str:
            return url_for("graphql_explorer.static", filename=name)

        return self._template.render(
            title=self._title,
            asset=asset,
            config={"url": url_for("graphql"), "defaultQuery": self._default_query},
        )


__all__ = ["EXPLORER_CSP", "LocalGraphiQL", "create_explorer_blueprint"]
