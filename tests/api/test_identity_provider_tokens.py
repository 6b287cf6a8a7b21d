"""AUTH_JWKS_URL through the whole app: an identity provider's token works on both APIs, HS256 beside it."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.graphql_support import post_graphql
from tests.jwks_support import AUDIENCE, ISSUER, SigningKey, jwks_provider
from tests.rest_support import RestCaller, assert_error


@pytest.fixture(scope="module")
def key():
    return SigningKey("gw-rsa")


@pytest.fixture
def provider(key):
    with jwks_provider(key) as provider:
        yield provider


@pytest.fixture
def idp_client(settings, provider):
    from wsgi import create_app

    app = create_app(dataclasses.replace(settings, jwks_url=provider.url, auth_issuer=ISSUER, auth_audience=AUDIENCE,
                                         auth_org_claim="tenant"))
    yield app.test_client()
    app.extensions["realty"].close()


def test_a_providers_token_is_a_caller_of_its_org_on_both_apis(idp_client, key, make_token):
    token = key.token(tenant="org-idp")
    rest = RestCaller(idp_client, token)
    realty = str(uuid.uuid4())
    assert rest.list(realty).status_code == 404  # authenticated: the realty does not exist
    body = post_graphql(idp_client, token, 'mutation { createProperty(input: {name: "Villa"}) { property { id } } }')
    assert body.status_code == 200 and "errors" not in body.get_json(), body.get_json()
    # The same org through HS256 sees what the provider's user made.
    hs = make_token(org="org-idp")
    created = body.get_json()["data"]["createProperty"]["property"]["id"]
    seen = post_graphql(idp_client, hs, f'{{ property(id: "{created}") {{ id }} }}')
    assert seen.get_json()["data"]["property"] == {"id": created}


def test_a_token_for_another_audience_is_401_on_both_apis(idp_client, key):
    token = key.token(tenant="org-idp", aud="someone-else")
    assert_error(RestCaller(idp_client, token).list(str(uuid.uuid4())), 401, "UNAUTHORIZED")
    answer = post_graphql(idp_client, token, "{ __typename }")
    assert answer.status_code == 401
    assert answer.get_json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_with_a_provider_and_no_secret_no_dev_token_is_printed(settings, provider, key, capsys):
    from wsgi import create_app

    app = create_app(dataclasses.replace(settings, jwt_secret=None, jwks_url=provider.url, auth_issuer=ISSUER,
                                         auth_audience=AUDIENCE))
    try:
        assert "Dev token" not in capsys.readouterr().err
        assert RestCaller(app.test_client(), key.token()).list(str(uuid.uuid4())).status_code == 404
    finally:
        app.extensions["realty"].close()
