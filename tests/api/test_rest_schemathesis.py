"""Schemathesis against the app's own OpenAPI document (/openapi.json), through the WSGI app.

For every operation, a bounded and fixed set of generated requests (derandomized), both valid ones and
ones that break the document: no answer is a 5xx, and every answer conforms to the document (status,
content type, body schema). Schemathesis' pytest plugin does not run under pytest 9, so the test walks
the operations itself with Hypothesis.
"""
from __future__ import annotations

import uuid

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 10


def test_generated_requests_get_documented_answers_and_never_a_5xx(app, make_token):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    token = make_token()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(operation, mode, token)


def _exercise(operation, mode, token: str) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        if mode is GenerationMode.POSITIVE and "Request-ID" in (case.headers or {}):
            # A fresh id per request: two generated requests would otherwise share an idempotency key.
            headers["Request-ID"] = str(uuid.uuid4())
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
