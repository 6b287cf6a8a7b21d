"""Helpers for the GraphQL tests: the seed's requests verbatim, request builders, id helpers, checks."""
from __future__ import annotations

import base64
import io
import json
import uuid
from typing import Any

# --- the GraphQL source's requests, verbatim (seeds/002_18de89c6ee75014b.txt) ------------------------
# The `operations` texts are exactly the seed's, raw line breaks inside the query string included
# (a raw string keeps its `\n` escapes as they are). Tests swap only the ids for ones they created.

SEED_PROPERTY_ID = "eyJ0eXBlIjoiUHJvcGVydHkiLCJpZCI6MTA1NzcxNX0"
SEED_ROOM_ID = "eyJ0eXBlIjoiVW5pdFR5cGUiLCJpZCI6MTAwOTkyOTd9="
SEED_DELETE_IMAGE_ID = "eyJ0eXBlIjoiSW1hZ2UiLCJpZCI6MTE1MjU1Mn0"

SEED_CREATE_PROPERTY_IMAGE_OPERATIONS = r'''{
    "query": "mutation CreatePropertyImage($input:CreatePropertyImageInput!) {
        createPropertyImage(input: $input){
            image{\n active \n category \n hero \n filename \n id \n imageHash \n type \n status \n source}
        }
    }",
    "variables": {
        "input":{
            "file": null,
            "propertyId": "eyJ0eXBlIjoiUHJvcGVydHkiLCJpZCI6MTA1NzcxNX0",
            "category": "ROOM",
            "hero": false
        }
    }
}'''

SEED_CREATE_ROOM_IMAGE_OPERATIONS = r'''{
    "query": "mutation CreateRoomImage($input:CreateRoomImageInput!) {
        createRoomImage(input: $input){
            image{\n active \n category \n hero \n filename \n id \n imageHash \n type \n status \n source}
            }
        }",
    "variables": {
        "input": {
            "file": null,
            "roomId": "eyJ0eXBlIjoiVW5pdFR5cGUiLCJpZCI6MTAwOTkyOTd9="
        }
    }
}'''

SEED_MAP = '{"0":["variables.input.file"]}'
SEED_MAP_PRETTY = '''{
    "0": ["variables.input.file"]
}'''

SEED_DELETE_IMAGE_QUERY = '''mutation DeleteImage($input: DeleteImageInput!) {
    deleteImage(input: $input) {
        success
    }
}'''

SEED_IMAGE_FIELDS = {"active", "category", "hero", "filename", "id", "imageHash", "type", "status", "source"}

SEED_PROPERTY_FILE_NAME = "Archways_ub_1.jpg"
SEED_ROOM_FILE_NAME = "49b8da4f-9037-4158-a869-65e92da1d736_1721728892756589130~tplv-a9rns2rl98-web-image.jpeg"

# --- ids -------------------------------------------------------------------------------------------


def global_id(type_name: str, number: int) -> str:
    """The contract's encoding, written independently of graphql_api.ids."""
    raw = json.dumps({"type": type_name, "id": number}, separators=(",", ":")).encode()
    return base64.b64encode(raw).decode()


def decode_global_id(value: str) -> dict[str, Any]:
    text = value.rstrip("=")
    return json.loads(base64.b64decode(text + "=" * (-len(text) % 4)))


def unpadded(value: str) -> str:
    return value.rstrip("=")


def seed_style_overpadded(value: str) -> str:
    """The seed's roomId style: no proper padding, one '=' appended anyway."""
    return value.rstrip("=") + "="


# --- requests --------------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rest_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Request-ID": str(uuid.uuid4())}


def post_graphql(client, token: str | None, query: str, variables: dict | None = None, headers=None):
    all_headers = dict(headers or {})
    if token is not None:
        all_headers.update(bearer(token))
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return client.post("/graphql", json=body, headers=all_headers)


def post_multipart(client, token: str | None, operations: str, files_map: str,
                   files: dict[str, tuple[bytes, str | None]] | None = None, extra_fields=None, headers=None):
    """A GraphQL multipart request: `operations`, then `map`, then the file parts, in that order."""
    data: dict[str, Any] = {"operations": operations, "map": files_map}
    data.update(extra_fields or {})
    for name, (content, filename) in (files or {}).items():
        data[name] = (io.BytesIO(content), filename) if filename is not None else (io.BytesIO(content),)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers.update(bearer(token))
    return client.post("/graphql", data=data, headers=all_headers, content_type="multipart/form-data")


def upload_operations(mutation: str, input_type: str, variables_input: dict[str, Any],
                      selection: str = "image { id realtyImageId type category hero active status position }") -> str:
    """`operations` JSON for an upload mutation, the file variable left null for `map` to fill."""
    query = (f"mutation Upload($input: {input_type}!) {{ {mutation}(input: $input) {{ {selection} }} }}")
    return json.dumps({"query": query, "variables": {"input": {**variables_input, "file": None}}})


# --- domain-level helpers over GraphQL --------------------------------------------------------------


def data_of(response) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "errors" not in body, body
    return body["data"]


def single_error(response) -> dict[str, Any]:
    """The one error of a response; no stack trace or debug data anywhere."""
    assert_no_trace(response)
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)
    assert len(body.get("errors", [])) == 1, body
    return body["errors"][0]


def assert_no_trace(response) -> None:
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "stacktrace" not in text and 'File "' not in text, text
    assert "<html" not in text.lower() or response.mimetype == "text/html", text
    body = response.get_json(silent=True)
    for error in (body or {}).get("errors", []) if isinstance(body, dict) else []:
        assert set(error.get("extensions", {})) <= {"code", "retryable"}, error


def create_property(client, token: str, name: str = "Villa Kivi", external_id: str | None = None) -> dict:
    variables = {"input": {"name": name, **({"externalId": external_id} if external_id else {})}}
    data = data_of(post_graphql(client, token, """
        mutation CreateProperty($input: CreatePropertyInput!) {
          createProperty(input: $input) { property { id realtyId name externalId } }
        }""", variables))
    return data["createProperty"]["property"]


def create_room(client, token: str, property_id: str, name: str = "Kitchen") -> dict:
    data = data_of(post_graphql(client, token, """
        mutation CreateRoom($input: CreateRoomInput!) {
          createRoom(input: $input) { room { id name property { id } } }
        }""", {"input": {"propertyId": property_id, "name": name}}))
    return data["createRoom"]["room"]


def upload_property_image(client, token: str, property_id: str, content: bytes, filename: str = "photo.jpg",
                          category: str = "GENERAL", hero: bool = False) -> dict:
    operations = upload_operations("createPropertyImage", "CreatePropertyImageInput",
                                   {"propertyId": property_id, "category": category, "hero": hero})
    response = post_multipart(client, token, operations, SEED_MAP, {"0": (content, filename)})
    return data_of(response)["createPropertyImage"]["image"]


def upload_room_image(client, token: str, room_id: str, content: bytes, filename: str = "room.jpg") -> dict:
    operations = upload_operations("createRoomImage", "CreateRoomImageInput", {"roomId": room_id})
    response = post_multipart(client, token, operations, SEED_MAP, {"0": (content, filename)})
    return data_of(response)["createRoomImage"]["image"]


PROPERTY_IMAGES_QUERY = """
query PropertyImages($id: ID!) {
  property(id: $id) {
    id realtyId name
    images { id realtyImageId type category hero active status position imageHash filename source
             width height size contentType url description originalFileName }
  }
}"""


def property_images(client, token: str, property_id: str) -> list[dict] | None:
    data = data_of(post_graphql(client, token, PROPERTY_IMAGES_QUERY, {"id": property_id}))
    return None if data["property"] is None else data["property"]["images"]


# Every field of a property, its rooms and its images: the widest read one request can make.
FULL_PROPERTY = """
query($id: ID!) {
  property(id: $id) {
    id realtyId name externalId createdAt imageCount
    hero { id }
    rooms { id name property { id } images { id } }
    images {
      id realtyImageId type category hero active status imageHash source filename position width height size
      contentType url description originalFileName createdAt modifiedAt
      property { id }
      room { id name }
      renditions { name url width height contentType }
    }
  }
}"""
