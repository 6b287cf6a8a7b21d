"""The HTTP side of /graphql: the explorer on GET, authentication, JSON and multipart bodies on POST."""
from __future__ import annotations

import functools
import json
import logging
from typing import Any, Collection

from ariadne import graphql_sync
from flask import Response, g, request
from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode
from graphql.validation import ASTValidationRule
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from core.errors import GatewayError, RateLimited, Unauthenticated
from core.ports import Authenticator
from core.api import CoreApi
from graphql_api.context import GraphQLContext
from graphql_api.cost import CostModel
from graphql_api.errors import BAD_USER_INPUT, INTERNAL_MESSAGE, INTERNAL_SERVER_ERROR, UNAUTHENTICATED, ErrorLog, \
    core_error_answer, error_body, format_error
from graphql_api.explorer import EXPLORER_CSP, LocalGraphiQL
from graphql_api.idempotency import idempotency_key, is_mutation, run_once
from graphql_api.multipart import MultipartRequest, RequestRejected, UploadLimits
from graphql_api.validation import DocumentCache, depth_limit_rule, image_mutation_limit_rule

log = logging.getLogger("graphql_api")

MAX_JSON_BYTES = 2 * 1024 * 1024
"""Largest JSON (non-multipart) body; files only come in multipart requests."""

EXPLORER_QUERY = """# Realty Image Gateway - GraphQL
#
# Every request needs a credential. Opened from the web console (/) in this
# tab, the console's token is already in use. Otherwise put one in the
# Headers tab below and press "Re-fetch GraphQL schema" (bottom left):
#   {"Authorization": "Bearer <JWT>"}   or   {"x-api-token": "<JWT>"}
#
# Uploads (createPropertyImage, createRoomImage, createFloorPlanImage) are
# GraphQL multipart requests: fields 'operations', 'map' and a file part.

query Property($id: ID!) {
  property(id: $id) {
    id
    realtyId
    name
    images { id realtyImageId type category hero active status filename source url }
    rooms { id name }
  }
}
"""


class GraphQLView:
    def __init__(self, schema: GraphQLSchema, core: CoreApi, authenticator: Authenticator,
                 limits: UploadLimits) -> None:
        self._schema = schema
        self._core = core
        self._authenticator = authenticator
        self._limits = limits
        self._documents = DocumentCache()
        self._rules = [depth_limit_rule(), image_mutation_limit_rule(limits.max_files)]
        self._cost = CostModel(schema)
        self._error_log = ErrorLog()
        self._explorer = LocalGraphiQL(title="Realty Image Gateway - GraphQL", default_query=EXPLORER_QUERY)

    def dispatch(self) -> Response:
        if request.method in ("GET", "HEAD"):
            response = Response(self._explorer.html(request), mimetype="text/html")
            response.headers["Content-Security-Policy"] = EXPLORER_CSP
            return response
        if request.method != "POST":
            response = _json(error_body(f"{request.method} is not supported on /graphql; POST a GraphQL "
                                        "request, or GET the explorer", BAD_USER_INPUT), 405)
            response.headers["Allow"] = "GET, HEAD, POST"
            return response
        try:
            return self._post()
        except RequestRejected as exc:
            return _json(error_body(exc.message, BAD_USER_INPUT), exc.status)
        except GatewayError as exc:
            response = _json(*core_error_answer(exc))
            if isinstance(exc, RateLimited):
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except Exception:  # noqa: BLE001 - the last line of defence: never a stack trace or an HTML page
            log.exception("GraphQL request failed")
            return _json(error_body(INTERNAL_MESSAGE, INTERNAL_SERVER_ERROR), 500)

    def _post(self) -> Response:
        try:
            caller = self._authenticator.authenticate(_token())
        except Unauthenticated as exc:
            response = _json(error_body(exc.message, UNAUTHENTICATED), 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="graphql"'
            return response
        context = GraphQLContext(core=self._core, caller=caller, max_file_bytes=self._limits.max_file_bytes)
        if request.mimetype == "multipart/form-data":
            request.max_content_length = self._limits.max_request_bytes
            with MultipartRequest(request, self._limits) as multipart:
                return self._answer(multipart.parse(), context)
        if request.mimetype == "application/json" or request.mimetype.endswith("+json"):
            return self._answer(self._json_body(), context)
        raise RequestRejected(415, "POST /graphql takes application/json, or multipart/form-data for uploads "
                                   f"(GraphQL multipart request spec); got {request.mimetype or 'no Content-Type'}")

    def _json_body(self) -> Any:
        limit = min(self._limits.max_request_bytes, MAX_JSON_BYTES)
        request.max_content_length = limit
        try:
            raw = _read_at_most(request.stream, limit)
        except RequestEntityTooLarge:
            raise RequestRejected(413, f"A JSON request may be at most {limit} bytes; "
                                       "files go in multipart requests") from None
        except HTTPException as exc:
            raise RequestRejected(400, exc.description or "The body could not be read") from None
        try:
            data = json.loads(raw, strict=False)
        except (ValueError, RecursionError) as exc:
            # RecursionError: arrays or objects nested thousands deep.
            raise RequestRejected(400, f"The body is not valid JSON ({exc})") from None
        if isinstance(data, list):
            raise RequestRejected(400, "Batched operations (a JSON array) are not supported; send one operation")
        return data

    def _answer(self, data: Any, context: GraphQLContext) -> Response:
        """Execute; a mutation sent with an Idempotency-Key at most once (CONTRACT §8)."""
        key = idempotency_key(request)
        if key is None or not is_mutation(self._documents, data):
            return self._execute(data, context)
        return run_once(self._core.writes, context.caller, key, data, lambda: self._execute(data, context))

    def _execute(self, data: Any, context: GraphQLContext) -> Response:
        _success, result = graphql_sync(
            self._schema,
            data,
            context_value=context,
            query_parser=self._documents.parse,
            query_validator=functools.partial(self._validate, data),
            validation_rules=self._rules,
            debug=False,
            logger=self._error_log,
            error_formatter=format_error,
        )
        g.graphql_operation = self._operation_name(data) or ""  # "": it ran, and has no name
        # A request that could not be executed at all (unparsable, invalid, bad variables) is a 400. Only
        # its errors lack a `path`: a field error may null all of `data` (a non-null root field failed),
        # yet the operation ran, and that is a 200 like any other field error.
        executed = result.get("data") is not None or any("path" in e for e in result.get("errors", ()))
        return _json(result, 200 if executed else 400)

    def _operation_name(self, data: Any) -> str | None:
        """The name of the operation run, for the gateway's metrics: the one asked for, or the document's
        only operation's (parsed already: this is the document cache's)."""
        name = data.get("operationName") if isinstance(data, dict) else None
        if isinstance(name, str) and name:
            return name
        try:
            document = self._documents.parse(None, data)
        except Exception:  # noqa: BLE001 - not a document: no name
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        return operations[0].name.value if len(operations) == 1 and operations[0].name else None

    def _validate(self, data: dict[str, Any], schema: GraphQLSchema, document: DocumentNode,
                  rules: Collection[type[ASTValidationRule]] | None = None, max_errors: int | None = None,
                  **kwargs: Any) -> list[GraphQLError]:
        """Ariadne's query_validator: the document's rules (cached per document), then this request's cost.

        The cost depends on the variables (list lengths, @skip/@include), so it is counted per request,
        here, after the document proved valid and before Ariadne executes anything.
        """
        errors = self._documents.validate(schema, document, rules, max_errors, **kwargs)
        if errors:
            return errors
        return self._cost.check(document, data.get("operationName"), data.get("variables"))


def _token() -> str | None:
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'")
        return token.strip() or None
    api_token = request.headers.get("x-api-token", "").strip()
    if api_token[:7].lower() == "bearer ":
        api_token = api_token[7:].strip()
    return api_token or None


def _read_at_most(stream, limit: int) -> bytes:
    """The whole body, or RequestEntityTooLarge once it passes `limit` bytes.

    A chunked body has no Content-Length to check up front, and werkzeug's `get_data()` silently stops
    at `max_content_length`: the truncated JSON would be reported as malformed rather than too large.
    Reading on past the limit makes werkzeug's limited stream raise instead.
    """
    body = bytearray()
    while chunk := stream.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise RequestEntityTooLarge()
    return bytes(body)


def _json(body: Any, status: int) -> Response:
    # Not flask.jsonify: it may sort keys, and a GraphQL response keeps the order of the selection.
    # Ends with a newline, as REST answers do, so a terminal prompt does not land on the answer's last line.
    # The codes answered, for the gateway's metrics (with the operation's name, when it ran).
    g.graphql_codes = [error.get("extensions", {}).get("code") for error in body.get("errors", ())]
    text = json.dumps(body, ensure_ascii=False) + "\n"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        # An error message may quote the request (e.g. an unknown operationName), and JSON lets a client
        # send an unpaired surrogate, which UTF-8 cannot encode: escape everything non-ASCII instead.
        data = (json.dumps(body) + "\n").encode("ascii")
    return Response(data, status=status, mimetype="application/json")
