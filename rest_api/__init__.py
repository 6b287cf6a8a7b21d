"""The REST facade: the Realty Image API 2.0 (CONTRACT §3) over the core (commands and views).

It parses requests, calls the core, serializes answers and translates errors; it holds no state
and no business rule of its own. `init_app` mounts it on a Flask app together with the OpenAPI
document (/openapi.json) and a docs UI (/docs) whose Swagger UI files the gateway serves itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_swagger_ui
from apispec import BasePlugin
from flask import Blueprint, Flask, Response, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from core.ports import Authenticator
from core.api import CoreApi
from rest_api.auth import SECURITY_SCHEME
from rest_api.errors import ErrorResponse, http_error_response, register_app_handlers
from rest_api.parsing import ImageIdSegment, UuidSegment, uuid_segment_schema
from rest_api.schemas import REQUEST_ID_HEADER, ErrorSchema
from rest_api.events import create_events_blueprint
from rest_api.documenting import ECHOED_REQUEST_ID
from rest_api.views import create_blueprints
from rest_api.webhooks import create_webhooks_blueprint

__all__ = ["RestApi", "init_app"]

DEFAULT_CONFIG = {
    "API_TITLE": "Realty Image API",
    "API_VERSION": "2.0",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # Relative to the /docs page, so it also holds under a path prefix (SCRIPT_NAME); see _swagger_ui_assets.
    "OPENAPI_SWAGGER_UI_URL": "docs/swagger-ui/",
    # null: no badge that would send the spec's URL to the public validator.
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
}
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
"""Swagger UI's own dist files, as packaged (and kept current) by flask-swagger-ui; only these are used."""
# Passed as spec kwargs rather than API_SPEC_OPTIONS, so an app that sets API_SPEC_OPTIONS adds to them.
SPEC_KWARGS = {
    "info": {
        "description": "Realty Image API allows an agent to manage images content for realty.",
        "contact": {"email": "developer@ovipro.fi"},
    },
    # Every operation needs the bearer token; the spec and the docs UI are served outside the API.
    "security": [{"bearerAuth": []}],
}


class EchoedRequestIdPlugin(BasePlugin):
    """Documents the Request-ID echo on the shared response components.

    flask-smorest refers every error answer (the arguments' 400, alt_responses, `default`) to a
    components.responses entry it registers itself; apispec passes each through this hook, so the
    echo that happens "also on errors" is documented there too, once.
    """

    def response_helper(self, response: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {"headers": {**response.get("headers", {}), **ECHOED_REQUEST_ID}}


class RestApi(Api):
    """flask-smorest's Api, answering every HTTP error with the contract's envelope."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> ErrorResponse:
        return http_error_response(error)


def init_app(app: Flask, core: CoreApi, authenticator: Authenticator) -> RestApi:
    """Mount the REST API. Configuration already on the app (API_TITLE, OPENAPI_*...) wins over defaults."""
    for key, value in DEFAULT_CONFIG.items():
        app.config.setdefault(key, value)
    # Answers keep the contract's field order, and encoding skips a sort of every object's keys: a
    # third of the time a 200-image listing takes.
    app.json.sort_keys = False
    api = RestApi(app, spec_kwargs={**SPEC_KWARGS, "extra_plugins": [EchoedRequestIdPlugin()]})
    api.spec.components.security_scheme("bearerAuth", SECURITY_SCHEME)
    for converter in (UuidSegment, ImageIdSegment):
        app.url_map.converters[converter.NAME] = converter
        api.register_converter(converter, uuid_segment_schema)
    for blueprint in (*create_blueprints(core, authenticator), create_events_blueprint(core, authenticator),
                      create_webhooks_blueprint(core, authenticator)):
        api.register_blueprint(blueprint)
    register_app_handlers(app)
    app.after_request(_echo_request_id)
    app.register_blueprint(_swagger_ui_assets())
    return api


def _swagger_ui_assets() -> Blueprint:
    """Serves Swagger UI's files at /docs/swagger-ui/, where the /docs page (OPENAPI_SWAGGER_UI_URL) loads them."""
    return Blueprint("swagger_ui_assets", __name__, static_folder=str(SWAGGER_UI_DIST),
                     static_url_path="/docs/swagger-ui")


def _echo_request_id(response: Response) -> Response:
    # App-wide so that errors raised before any view (unknown path, wrong method) echo it too.
    request_id = request.headers.get(REQUEST_ID_HEADER)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response
