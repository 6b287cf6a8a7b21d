"""GET /metrics (CONTRACT §12) through the Flask test client, parsed as Prometheus parses it."""
from __future__ import annotations

import dataclasses
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.prometheus_metrics import MAX_OPERATION_NAMES
from tests.graphql_support import post_graphql
from tests.processing_support import wait_processed
from tests.rest_support import RestCaller, distinct_png


def scrape(client, token: str | None = None) -> dict[tuple[str, tuple], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_method_and_status_never_by_id(client, make_token):
    rest = RestCaller(client, make_token(org="org-m"))
    realties = [str(uuid.uuid4()) for _ in range(3)]
    for realty in realties:
        assert rest.list(realty).status_code == 404
    client.get("/healthz")
    client.get("/no/such/path")
    samples = scrape(client)
    route = "/realty/{realtyId}/images"
    assert value(samples, "realty_http_requests_total", route=route, method="GET", status="404") == 3
    assert value(samples, "realty_http_request_duration_seconds_count", route=route, method="GET") == 3
    assert value(samples, "realty_http_requests_total", route="/healthz", method="GET", status="200") == 1
    assert value(samples, "realty_http_requests_total", route="unmatched", method="GET", status="404") == 1
    labels = " ".join(str(key) for key in samples)
    assert not any(realty in labels for realty in realties)


def test_graphql_operations_are_counted_by_name_and_code_with_unknown_names_folded(client, make_token):
    token = make_token(org="org-g")
    post_graphql(client, token, "query Lookup { property(id: \"nope\") { id } }")
    post_graphql(client, token, "{ property(id: \"nope\") { id } }")
    post_graphql(client, None, "query Lookup { property(id: \"nope\") { id } }")
    post_graphql(client, token, "mutation Broken { deleteImage(input: {id: \"x\"}) { success } }")
    for n in range(150):  # a client inventing names cannot grow the label set without bound
        post_graphql(client, token, f"query Made{n} {{ __typename }}")
    samples = scrape(client)
    assert value(samples, "realty_graphql_operations_total", operation="Lookup", code="OK") == 1
    assert value(samples, "realty_graphql_operations_total", operation="anonymous", code="OK") == 1
    assert value(samples, "realty_graphql_operations_total", operation="unknown", code="UNAUTHENTICATED") == 1
    broken = [key for key in samples
              if key[0] == "realty_graphql_operations_total" and ("operation", "Broken") in key[1]]
    assert broken and all(dict(key[1])["code"] != "OK" for key in broken)
    names = {dict(key[1])["operation"] for key in samples if key[0] == "realty_graphql_operations_total"}
    assert "other" in names and len(names - {"anonymous", "unknown", "other"}) == MAX_OPERATION_NAMES


def test_jobs_are_counted_by_kind_and_outcome_and_pending_images_show_their_age(client, make_token, app):
    rest = RestCaller(client, make_token(org="org-j"))
    realty = str(uuid.uuid4())
    rest.save_ok(realty, rest.upload_many(distinct_png(n) for n in range(2)))
    wait_processed(app)
    samples = scrape(client)
    assert value(samples, "realty_jobs_total", kind="render_image", outcome="done") == 2
    assert value(samples, "realty_job_duration_seconds_count", kind="render_image", outcome="done") == 2
    assert value(samples, "realty_queue_depth", queue="renditions") == 0
    assert value(samples, "realty_oldest_pending_image_age_seconds") == 0
    for backend in ("database", "storage", "redis"):
        assert ("realty_backend_failures_total", (("backend", backend),)) in samples


def test_metrics_token_when_set_is_required_as_a_bearer_token(settings, make_token):
    from wsgi import create_app

    app = create_app(dataclasses.replace(settings, metrics_token="scrape-secret"))
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {make_token()}"}).status_code == 401
        assert scrape(client, "scrape-secret")
    finally:
        app.extensions["realty"].close()


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_operational_endpoints_need_no_api_credential(client, path):
    assert client.get(path).status_code == 200


def test_a_backend_failing_is_counted_by_backend(client, tmp_path):
    import shutil

    shutil.rmtree(tmp_path / "storage")  # the volume is gone (unmounted)
    assert client.get("/readyz").status_code == 503
    samples = scrape(client)
    assert value(samples, "realty_backend_failures_total", backend="storage") >= 1
    assert value(samples, "realty_backend_failures_total", backend="database") == 0
