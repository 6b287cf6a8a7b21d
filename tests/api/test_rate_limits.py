"""RATE_LIMIT per org (CONTRACT §12) in one process (memory storage): both APIs share one count per org."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.graphql_support import post_graphql
from tests.rest_support import RestCaller, assert_error

QUERY = 'query Lookup { property(id: "nope") { id } }'


@pytest.fixture
def limited(settings):
    from wsgi import create_app

    app = create_app(dataclasses.replace(settings, rate_limit="4/hour"))
    yield app.test_client()
    app.extensions["realty"].close()


def test_an_org_spends_one_limit_across_both_apis_then_gets_429_with_retry_after(limited, make_token):
    token = make_token(org="org-busy")
    rest = RestCaller(limited, token)
    realty = str(uuid.uuid4())
    assert rest.list(realty).status_code == 404
    assert post_graphql(limited, token, QUERY).status_code == 200
    assert rest.list(realty).status_code == 404
    assert post_graphql(limited, token, QUERY).status_code == 200

    refused = rest.list(realty)
    assert_error(refused, 429, "TOO_MANY_REQUESTS")
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600

    answer = post_graphql(limited, token, QUERY)
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 3600
    [error] = answer.get_json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryable": True}


def test_one_org_spending_its_limit_leaves_the_others_theirs(limited, make_token):
    busy, calm = RestCaller(limited, make_token(org="org-busy")), RestCaller(limited, make_token(org="org-calm"))
    realty = str(uuid.uuid4())
    statuses = [busy.list(realty).status_code for _ in range(6)]
    assert statuses == [404] * 4 + [429] * 2
    assert calm.list(realty).status_code == 404


def test_health_metrics_and_unauthenticated_requests_are_never_limited(limited, make_token):
    rest = RestCaller(limited, make_token(org="org-busy"))
    for _ in range(5):
        rest.list(str(uuid.uuid4()))
    for _ in range(10):
        assert limited.get("/healthz").status_code == 200
        assert limited.get("/metrics").status_code == 200
        assert limited.get("/readyz").status_code == 200
    # No credential: 401 as always (a limit needs an org to count against).
    assert_error(limited.get(f"/realty/{uuid.uuid4()}/images"), 401, "UNAUTHORIZED")


def test_without_rate_limit_nothing_is_limited(client, make_token):
    rest = RestCaller(client, make_token(org="org-busy"))
    assert all(rest.list(str(uuid.uuid4())).status_code == 404 for _ in range(30))
