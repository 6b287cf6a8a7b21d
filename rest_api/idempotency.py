"""REST writes done at most once per Request-ID (CONTRACT §8).

The facade's part: name the write (the caller's Request-ID, the operation, a fingerprint of its path
and body), turn its answer into bytes and back, and mark a replayed answer. What is kept, for how long,
and what two copies at once do is the core's (core/idempotency.py).
"""
from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, Callable

from flask import Response, request

from core.idempotency import Answer, IdempotentWrites, Outcome
from core.input_rules import parse_uuid
from rest_api.auth import current_caller
from rest_api.parsing import request_body
from rest_api.schemas import REQUEST_ID_HEADER

REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to `true` on an answer given again to a retry (as Stripe and the IETF draft's users do)."""

View = Callable[..., Any]


def once_per_request_id(writes: IdempotentWrites) -> Callable[[View], View]:
    """A view decorator, outermost below the route: the write runs once per Request-ID of the caller's org.

    Outermost so that the whole answer (validation errors included) is the write's, and the Request-ID
    is read raw: a missing or malformed one is left to the view's own check (400).
    """

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = _request_id()
            if key is None:
                return view(*args, **kwargs)
            operation = f"{request.method} {request.url_rule.rule if request.url_rule else request.path}"
            outcome = writes.run(current_caller(), key, operation, _fingerprint(),
                                       lambda: _answer(view(*args, **kwargs)))
            return _response(outcome)

        return wrapper

    return decorator


def _request_id() -> str | None:
    request_id = parse_uuid(request.headers.get(REQUEST_ID_HEADER, ""))
    return None if request_id is None else str(request_id)  # either case names the same id


def _fingerprint() -> str:
    """What makes two requests the same: method, path, query and body (as JSON, so that whitespace and
    member order do not count)."""
    body = request_body()
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON: the bytes themselves (the request will be refused)
        canonical = body
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.query_string, canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _answer(response: Response) -> Answer:
    """Status, content type and body, kept as a line of JSON and the body; only a success changed
    anything (a refused write did nothing)."""
    head = json.dumps({"status": response.status_code, "content_type": response.content_type}).encode()
    return Answer(head + b"\n" + response.get_data(), changed=200 <= response.status_code < 300)


def _response(outcome: Outcome) -> Response:
    head, _, body = outcome.answer.content.partition(b"\n")
    meta = json.loads(head)
    response = Response(body, status=meta["status"], content_type=meta["content_type"])
    if outcome.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response
