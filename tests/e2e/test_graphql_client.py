"""A real HTTP server and a real GraphQL client: gql's RequestsHTTPTransport, file upload included."""
from __future__ import annotations

import hashlib
import io
import threading

import pytest
import requests
from gql import Client, FileVar, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport
from werkzeug.serving import make_server

from tests.graphql_support import SEED_CREATE_PROPERTY_IMAGE_OPERATIONS, SEED_MAP, SEED_PROPERTY_ID
from tests.images import make_jpeg, make_png
from tests.servers import SHUTDOWN_POLL


@pytest.fixture
def server_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _client(server_url, token, header="Authorization"):
    value = f"Bearer {token}" if header == "Authorization" else token
    transport = RequestsHTTPTransport(url=f"{server_url}/graphql", headers={header: value}, timeout=30)
    return Client(transport=transport)


CREATE_PROPERTY = gql("""
mutation CreateProperty($input: CreatePropertyInput!) {
  createProperty(input: $input) { property { id realtyId } }
}""")

CREATE_IMAGE = gql("""
mutation CreatePropertyImage($input: CreatePropertyImageInput!) {
  createPropertyImage(input: $input) {
    image { id active category hero filename imageHash type status source url }
  }
}""")


def test_upload_with_the_gql_client(server_url, make_token, tmp_path):
    token = make_token(org="org-a")
    with _client(server_url, token) as session:
        prop = session.execute(GraphQLRequest(CREATE_PROPERTY, variable_values={"input": {"name": "Over the wire"}}))[
            "createProperty"]["property"]

        # A file on disk, sent by path with FileVar...
        content = make_jpeg(60, 40)
        path = tmp_path / "Archways_ub_1.jpg"
        path.write_bytes(content)
        request = GraphQLRequest(CREATE_IMAGE, variable_values={"input": {
            "propertyId": prop["id"], "category": "ROOM", "hero": False,
            "file": FileVar(str(path), content_type="image/jpeg")}})
        image = session.execute(request, upload_files=True)["createPropertyImage"]["image"]
        assert image["imageHash"] == hashlib.md5(content).hexdigest()
        assert (image["active"], image["category"], image["type"], image["status"]) == (
            False, "ROOM", "ROOM_IMAGE", "EXTERNAL_NEW")
        assert image["filename"].endswith("-Archways_ub_1")
        assert image["source"] == f"{image['filename']}-{image['imageHash']}.jpg"
        downloaded = requests.get(image["url"], timeout=30)
        assert downloaded.status_code == 200 and downloaded.content == content

        # ...and an in-memory file object.
        png = make_png()
        request = GraphQLRequest(CREATE_IMAGE, variable_values={"input": {
            "propertyId": prop["id"], "category": "GENERAL", "file": FileVar(io.BytesIO(png), filename="plan.png")}})
        second = session.execute(request, upload_files=True)["createPropertyImage"]["image"]
        assert second["imageHash"] == hashlib.md5(png).hexdigest()

        listed = session.execute(GraphQLRequest("query($id: ID!) { property(id: $id) { images { id } } }",
                                                variable_values={"id": prop["realtyId"]}))
        assert listed["property"]["images"] == [{"id": image["id"]}, {"id": second["id"]}]

        # A GraphQL error reaches the client as one, with its code.
        request = GraphQLRequest(CREATE_IMAGE, variable_values={"input": {
            "propertyId": SEED_PROPERTY_ID, "category": "ROOM", "file": FileVar(io.BytesIO(png), filename="x.png")}})
        with pytest.raises(TransportQueryError) as raised:
            session.execute(request, upload_files=True)
        assert raised.value.errors[0]["message"] == "input.propertyId is not exist"
        assert raised.value.errors[0]["extensions"]["code"] == "NOT_FOUND"


def test_x_api_token_with_the_gql_client(server_url, make_token):
    with _client(server_url, make_token(), header="x-api-token") as session:
        assert session.execute(gql("{ __typename }")) == {"__typename": "Query"}


def test_seed_multipart_request_over_http(server_url, make_token):
    """The seed's request as an HTTP client (requests + a multipart body) sends it, like curl -F."""
    token = make_token()
    headers = {"Authorization": f"Bearer {token}"}
    created = requests.post(f"{server_url}/graphql", headers=headers, timeout=30, json={
        "query": "mutation { createProperty(input: {name: \"Seed\"}) { property { id } } }"}).json()
    property_id = created["data"]["createProperty"]["property"]["id"].rstrip("=")
    content = make_jpeg()
    response = requests.post(f"{server_url}/graphql", headers=headers, timeout=30, files={
        "operations": (None, SEED_CREATE_PROPERTY_IMAGE_OPERATIONS.replace(SEED_PROPERTY_ID, property_id)),
        "map": (None, SEED_MAP),
        "0": ("Archways_ub_1.jpg", content, "image/jpeg"),
    })
    assert response.status_code == 200, response.text
    image = response.json()["data"]["createPropertyImage"]["image"]
    assert image["imageHash"] == hashlib.md5(content).hexdigest()
    assert image["status"] == "EXTERNAL_NEW" and image["active"] is False

    unauthenticated = requests.post(f"{server_url}/graphql", timeout=30, json={"query": "{ __typename }"})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
