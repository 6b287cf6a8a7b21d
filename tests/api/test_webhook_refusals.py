"""Webhook URLs that could make the gateway attack its own network are refused (CONTRACT §10), over both
APIs, with the default settings (no WEBHOOK_ALLOW_* switch)."""
from __future__ import annotations

import pytest

from tests.graphql_support import post_graphql, single_error
from tests.rest_support import RestCaller

REFUSED = ["http://127.0.0.1:9/x", "https://10.0.0.1/x", "https://169.254.169.254/latest/meta-data",
           "https://[::1]/x", "https://[::ffff:127.0.0.1]/x", "https://localhost/x", "https://0.0.0.0/x",
           "ftp://example.com/x", "https://user:secret@hooks.example.com/x", "not a url", "https://no-such-host.invalid/"]


@pytest.fixture
def app(shared_app):
    return shared_app


@pytest.mark.parametrize("url", REFUSED)
def test_rest_refuses(client, make_token, url):
    rest = RestCaller(client, make_token(org="org-strict"))
    response = client.post("/webhooks", json={"url": url}, headers=rest.headers())
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["errors"][0]["target"] == "url"


@pytest.mark.parametrize("url", REFUSED[:4])
def test_graphql_refuses(client, token, url):
    response = post_graphql(client, token, "mutation($url: String!) { createWebhook(input: {url: $url}) { secret } }",
                            {"url": url})
    error = single_error(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "webhook URL" in error["message"]
