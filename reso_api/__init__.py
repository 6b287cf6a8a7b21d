"""The RESO Web API facade (CONTRACT §13): the Media resource over OData v4, on the core's feed of published
images. It reads OData options into the core's query and shapes records by the field table; it holds no
state and no business rule. `init_app` mounts it at /reso.
"""
from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Flask, Response, g, request, url_for
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from core.api import CoreApi
from core.domain import Rendition
from core.errors import GatewayError
from core.media_query import MediaPage
from core.ports import Authenticator
from reso_api import errors, fields, metadata, query

__all__ = ["init_app"]

JSON_TYPE = "application/json;odata.metadata=minimal"


_WRITES = ["POST", "PUT", "PATCH", "DELETE"]


def init_app(app: Flask, core: CoreApi, authenticator: Authenticator) -> None:
    app.register_blueprint(create_blueprint(core, authenticator))


def create_blueprint(core: CoreApi, authenticator: Authenticator) -> Blueprint:
    reso = Blueprint("reso", __name__, url_prefix="/reso")

    @reso.before_request
    def authenticate() -> None:
        # The same bearer token as the other APIs, checked by the same authenticator.
        if request.method == "OPTIONS":
            return
        credential = request.authorization
        token = credential.token if credential is not None and credential.type == "bearer" else None
        g.reso_caller = authenticator.authenticate(token)

    @reso.get("/")
    def service_document() -> Response:
        return _json(metadata.service_document(_metadata_url()))

    @reso.get("/$metadata")
    def csdl() -> Response:
        response = Response(metadata.csdl(), mimetype="application/xml")
        response.headers["OData-Version"] = "4.0"
        return response

    @reso.get(f"/{fields.RESOURCE}")
    def media() -> Response:
        wanted = query.read(request.args.to_dict(flat=False))
        page = core.views.published_media(g.reso_caller, wanted.query)
        records = page.records if wanted.top else []
        renditions = [fields.largest_rendition(r.renditions) for r in records]
        urls = _urls(core, renditions) if fields.URL in wanted.selected else [None] * len(records)
        body: dict[str, Any] = {"@odata.context": _context(wanted.selected)}
        if page.total is not None:
            body["@odata.count"] = page.total
        body["value"] = fields.records(zip(records, renditions, urls), wanted.selected)
        if page.more and records:
            body["@odata.nextLink"] = _next_link(wanted, page)
        return _json(body)

    # A blueprint answers only URLs one of its routes matches: without these, a wrong path or method under
    # /reso would be answered by the app in REST's error shape, which an OData client cannot read.
    @reso.route("/", defaults={"unknown": ""}, methods=_WRITES)
    @reso.route("/<path:unknown>", methods=["GET", "HEAD", *_WRITES])
    def elsewhere(unknown: str) -> Response:
        if unknown in ("", "$metadata", fields.RESOURCE):
            raise MethodNotAllowed(valid_methods=["GET", "HEAD"])
        raise NotFound(f"The RESO service has no resource {unknown!r}: it serves {fields.RESOURCE}")

    reso.register_error_handler(query.QueryRefused, errors.refused)
    reso.register_error_handler(GatewayError, errors.core_error)
    reso.register_error_handler(HTTPException, errors.http_error)
    reso.register_error_handler(Exception, errors.unexpected)
    return reso


def _urls(core: CoreApi, renditions: list[Rendition | None]) -> list[str | None]:
    """The download URL of each rendition (None for none), signed at once."""
    signed = iter(core.views.urls([r.storage_key for r in renditions if r is not None]))
    return [next(signed) if r is not None else None for r in renditions]


def _metadata_url() -> str:
    return url_for("reso.csdl", _external=True)


def _context(selected: tuple[fields.Field, ...]) -> str:
    names = "" if selected == fields.FIELDS else "(" + ",".join(f.name for f in selected) + ")"
    return f"{_metadata_url()}#{fields.RESOURCE}{names}"


def _next_link(wanted: query.MediaRequest, page: MediaPage) -> str:
    """The same request for the next page: resumed after the last record's key when ordered for replication
    (so images changing meanwhile neither repeat nor go missing), else by offset."""
    args = {name: value for name, value in request.args.items() if name not in ("$skip", "$skiptoken")}
    if wanted.query.replicating:
        args["$skiptoken"] = query.skip_token(page.records[-1].resume)
    else:
        args["$skip"] = str(wanted.query.offset + len(page.records))
    return url_for("reso.media", _external=True, **args)


def _json(body: dict[str, Any]) -> Response:
    # orjson: a page of a thousand records is encoded in a tenth of a millisecond instead of a few (the same
    # compact UTF-8 text the standard library writes with ensure_ascii=False).
    response = Response(orjson.dumps(body), mimetype="application/json")
    response.headers["Content-Type"] = JSON_TYPE
    response.headers["OData-Version"] = "4.0"
    return response
