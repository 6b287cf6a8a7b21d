"""GraphQL mutations done at most once per `Idempotency-Key` header (CONTRACT §8).

The facade's part: read the key, tell a mutation from a query, fingerprint the request (file parts by
their bytes, so that a retry with a new multipart boundary is still the same request), and turn the
HTTP answer into bytes and back. What is kept and what two copies at once do is the core's
(core/idempotency.py). Queries ignore the header: reading twice does no harm.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Callable

from flask import Request, Response
from graphql import GraphQLError, OperationType
from graphql.utilities import get_operation_ast
from werkzeug.datastructures import FileStorage

from core.idempotency import Answer, IdempotentWrites, Outcome
from core.ports import Caller
from graphql_api.multipart import RequestRejected
from graphql_api.validation import DocumentCache

IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
OPERATION = "graphql mutation"
_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")
"""1 to 255 printable ASCII characters, not starting or ending with a space (a UUID is the usual choice)."""


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key; RequestRejected (400) for one that cannot name a request."""
    value = request.headers.get(IDEMPOTENCY_KEY)
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        raise RequestRejected(400, f"The {IDEMPOTENCY_KEY} header must be 1 to 255 printable ASCII characters, "
                                   "e.g. a UUID")
    return value


def is_mutation(documents: DocumentCache, data: Any) -> bool:
    """Whether `data` asks for a mutation; anything unparsable is not (execution reports it as usual)."""
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return False
    name = data.get("operationName")
    if name is not None and not isinstance(name, str):
        return False
    try:
        operation = get_operation_ast(documents.parse(None, data), name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation is OperationType.MUTATION


def run_once(writes: IdempotentWrites, caller: Caller, key: str, data: dict[str, Any],
             execute: Callable[[], Response]) -> Response:
    outcome = writes.run(caller, key, OPERATION, _fingerprint(data), lambda: _answer(execute()))
    return _response(outcome)


def _fingerprint(data: dict[str, Any]) -> str:
    request = {"query": data.get("query"), "operationName": data.get("operationName"),
               "variables": _without_files(data.get("variables"))}
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _without_files(value: Any) -> Any:
    if isinstance(value, FileStorage):
        digest = hashlib.sha256()
        value.stream.seek(0)
        while chunk := value.stream.read(1024 * 1024):
            digest.update(chunk)
        value.stream.seek(0)
        return {"file": digest.hexdigest(), "filename": value.filename}
    if isinstance(value, dict):
        return {k: _without_files(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_files(v) for v in value]
    return value


def _answer(response: Response) -> Answer:
    """A mutation changed something when one of its fields has a result; one that only answered errors
    (refused input, a backend down, a conflict) did nothing, so its answer is not kept."""
    body = response.get_data()
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError):
        data = None
    changed = response.status_code == 200 and isinstance(data, dict) and any(v is not None for v in data.values())
    head = json.dumps({"status": response.status_code, "content_type": response.content_type}).encode()
    return Answer(head + b"\n" + body, changed=changed)


def _response(outcome: Outcome) -> Response:
    head, _, body = outcome.answer.content.partition(b"\n")
    meta = json.loads(head)
    response = Response(body, status=meta["status"], content_type=meta["content_type"])
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response
