"""GET /reso/Media, /reso/$metadata and /reso/ (CONTRACT §13) through the Flask test client."""
from __future__ import annotations

import threading
import uuid
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest

from tests.core_support import fill
from tests.rest_support import RestCaller, local_path, other_org, realty, rest  # noqa: F401 - fixtures

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
FIELDS = ["MediaKey", "ResourceName", "ResourceRecordKey", "Order", "MediaURL", "MediaType", "MediaCategory",
          "ImageWidth", "ImageHeight", "ImageSizeDescription", "ShortDescription", "LongDescription",
          "PreferredPhotoYN", "ImageOf", "ModificationTimestamp", "MediaModificationTimestamp"]


def reso(caller: RestCaller, path: str = "Media", **options):
    return caller.client.get(f"/reso/{path}", query_string=options, headers=caller.headers(with_request_id=False))


def ok(caller: RestCaller, path: str = "Media", **options) -> dict:
    response = reso(caller, path, **options)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["OData-Version"] == "4.0"
    return response.get_json()


def keys(caller: RestCaller, **options) -> list[str]:
    return [r["MediaKey"] for r in ok(caller, **options)["value"]]


def refused(caller: RestCaller, **options) -> dict:
    response = reso(caller, **options)
    assert response.status_code == 400, (options, response.get_data(as_text=True))
    error = response.get_json()["error"]
    assert set(error) <= {"code", "message", "target"} and error["code"] and error["message"], error
    return error


@pytest.fixture
def listing(rest, realty):
    """Four published images of one realty (the second the hero, the third a map) and one unpublished."""
    images = [str(i.uuid) for i in fill(rest.client.application, realty, 5)]
    rest.update(realty, [{"realtyImageId": i, **extra} for i, extra in zip(images, [
        {}, {"hero": True}, {"category": "MAP", "description": "Where it is: " + "far " * 20}, {}, {}])])
    assert rest.publish(realty, images[:4]).status_code == 200
    return images


def test_service_document_and_metadata_come_from_the_field_table(rest, listing):
    service = ok(rest, "")
    assert service["value"] == [{"name": "Media", "kind": "EntitySet", "url": "Media"}]
    assert service["@odata.context"].endswith("/reso/$metadata")
    response = reso(rest, "$metadata")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ElementTree.fromstring(response.get_data())
    entity = root.find(f".//{EDM}EntityType[@Name='Media']")
    assert [p.get("Name") for p in entity.findall(f"{EDM}Property")] == FIELDS
    assert [r.get("Name") for r in entity.findall(f"{EDM}Key/{EDM}PropertyRef")] == ["MediaKey"]
    types = {p.get("Name"): p.get("Type") for p in entity.findall(f"{EDM}Property")}
    assert types["ModificationTimestamp"] == "Edm.DateTimeOffset" and types["PreferredPhotoYN"] == "Edm.Boolean"
    assert root.find(f".//{EDM}EntitySet[@Name='Media']").get("EntityType") == "org.reso.metadata.Media"
    record = ok(rest)["value"][0]
    assert list(record) == FIELDS, "records show exactly the fields $metadata declares, in its order"


def test_records_show_the_published_images(rest, realty, listing):
    body = ok(rest, **{"$orderby": "Order"})
    assert body["@odata.context"].endswith("/reso/$metadata#Media") and "@odata.nextLink" not in body
    records = body["value"]
    assert [r["MediaKey"] for r in records] == listing[:4], "unpublished images are not in the feed"
    assert [r["Order"] for r in records] == [0, 1, 2, 3]
    assert [r["PreferredPhotoYN"] for r in records] == [False, True, False, False]
    assert {r["ResourceRecordKey"] for r in records} == {realty}
    assert {(r["ResourceName"], r["MediaCategory"], r["MediaType"]) for r in records} == {("Property", "Photo", "jpeg")}
    the_map = records[2]
    assert (the_map["ImageOf"], records[0]["ImageOf"]) == ("Map", None)
    assert the_map["LongDescription"].startswith("Where it is") and len(the_map["ShortDescription"]) <= 50
    assert the_map["ShortDescription"].endswith("…")
    assert the_map["ModificationTimestamp"].endswith("Z")
    assert rest.download(the_map["MediaURL"])[:2] == b"\xff\xd8", "the URL downloads the rendition, a JPEG"


def test_filter(rest, realty, listing):
    second_realty = str(uuid.uuid4())
    elsewhere = [str(i.uuid) for i in fill(rest.client.application, second_realty, 2)]
    rest.publish(second_realty)
    assert sorted(keys(rest, **{"$filter": f"ResourceRecordKey eq '{realty}'"})) == sorted(listing[:4])
    assert sorted(keys(rest, **{"$filter": f"ResourceRecordKey ne '{realty}'"})) == sorted(elsewhere)
    assert keys(rest, **{"$filter": f"MediaKey eq '{listing[1]}'"}) == [listing[1]]
    assert keys(rest, **{"$filter": f"MediaKey eq {listing[1]}"}) == [listing[1]], "a Guid literal too"
    assert keys(rest, **{"$filter": "PreferredPhotoYN eq true"}) == [listing[1]]
    assert keys(rest, **{"$filter": "MediaCategory eq 'Floor Plan'"}) == []
    assert len(keys(rest, **{"$filter": "MediaCategory eq 'Photo'"})) == 6
    everything = ok(rest)["value"]
    stamps = sorted(r["ModificationTimestamp"] for r in everything)
    later = [r["MediaKey"] for r in everything if r["ModificationTimestamp"] > stamps[2]]
    assert keys(rest, **{"$filter": f"ModificationTimestamp gt {stamps[2]}"}) == later
    assert len(keys(rest, **{"$filter": f"ModificationTimestamp ge {stamps[2]}"})) >= len(later) + 1
    assert len(keys(rest, **{"$filter": f"ModificationTimestamp le {stamps[-1]} and ModificationTimestamp lt "
                                         f"{stamps[-1]}"})) < 6
    combined = (f"(PreferredPhotoYN eq true or MediaKey eq '{elsewhere[0]}') and not "
                f"(ResourceRecordKey eq '{second_realty}')")
    assert keys(rest, **{"$filter": combined}) == [listing[1]]


def test_orderby_top_skip_select_count(rest, listing):
    by_order = keys(rest, **{"$orderby": "Order desc, MediaKey"})
    assert by_order == list(reversed(listing[:4]))
    replication = ok(rest, **{"$orderby": "ModificationTimestamp,MediaKey"})["value"]
    assert [(r["ModificationTimestamp"], r["MediaKey"]) for r in replication] == sorted(
        (r["ModificationTimestamp"], r["MediaKey"]) for r in replication)
    assert keys(rest, **{"$orderby": "ModificationTimestamp desc"}) == [r["MediaKey"] for r in reversed(replication)]
    page = ok(rest, **{"$top": "2", "$skip": "1", "$orderby": "Order"})
    assert [r["MediaKey"] for r in page["value"]] == listing[1:3]
    next_query = parse_qs(urlsplit(page["@odata.nextLink"]).query)
    assert next_query["$skip"] == ["3"], "ordered otherwise than for replication: the next page by offset"
    selected = ok(rest, **{"$select": "MediaKey,PreferredPhotoYN", "$count": "true", "$top": "1"})
    assert selected["@odata.context"].endswith("#Media(MediaKey,PreferredPhotoYN)")
    assert list(selected["value"][0]) == ["MediaKey", "PreferredPhotoYN"] and selected["@odata.count"] == 4
    only_count = ok(rest, **{"$top": "0", "$count": "true"})
    assert (only_count["value"], only_count["@odata.count"]) == ([], 4) and "@odata.nextLink" not in only_count


def test_next_links_resume_after_the_last_key(rest, listing):
    seen, url = [], "/reso/Media?$top=3"
    while url:
        response = rest.client.get(local_path(url), headers=rest.headers(with_request_id=False))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        seen += [r["MediaKey"] for r in body["value"]]
        url = body.get("@odata.nextLink")
        if url:
            assert "$skiptoken=" in url and "$skip=" not in url
    assert sorted(seen) == sorted(listing[:4]) and len(seen) == 4


@pytest.mark.parametrize("options", [
    {"$expand": "Property"}, {"$search": "x"}, {"top": "1"}, {"$filter": "Nope eq 1"},
    {"$filter": "contains(MediaKey,'a')"}, {"$filter": "Order eq 1"}, {"$filter": "MediaKey eq 5"},
    {"$filter": "MediaKey in ('a')"}, {"$filter": "ModificationTimestamp gt '2026'"},
    {"$filter": "ModificationTimestamp gt 2026-01-01T00:00:00"}, {"$filter": "PreferredPhotoYN gt false"},
    {"$filter": "MediaCategory eq 'Video'"}, {"$filter": "Order add 1 eq 2"}, {"$filter": "MediaKey eq"},
    {"$filter": "ResourceRecordKey eq null"}, {"$orderby": "ImageWidth"}, {"$orderby": "tolower(MediaKey)"},
    {"$orderby": "Order sideways"}, {"$top": "1001"}, {"$top": "-1"}, {"$top": "ten"}, {"$skip": "x"},
    {"$select": "MediaKey,Nope"}, {"$count": "yes"}, {"$skiptoken": "garbage"},
    {"$skiptoken": "MjAyNnxub3Q", "$orderby": "Order"},
])
def test_what_the_resource_does_not_take_is_a_400_in_odatas_shape(rest, options):
    refused(rest, **options)


def test_an_option_given_twice_is_refused(rest):
    response = rest.client.get("/reso/Media?$top=1&$top=2", headers=rest.headers(with_request_id=False))
    assert response.status_code == 400 and response.get_json()["error"]["target"] == "$top"


@pytest.mark.parametrize("path", ["Media", "", "$metadata"])
def test_every_path_needs_the_bearer_token(client, path):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = client.get(f"/reso/{path}", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "Unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_another_orgs_images_do_not_exist(rest, other_org, realty, listing):
    assert ok(other_org, **{"$count": "true"}) == {
        "@odata.context": ok(other_org)["@odata.context"], "@odata.count": 0, "value": []}
    assert keys(other_org, **{"$filter": f"ResourceRecordKey eq '{realty}' or MediaKey eq '{listing[0]}'"}) == []
    mine = str(uuid.uuid4())
    fill(other_org.client.application, mine, 1, org="org-b")
    other_org.publish(mine)
    assert len(keys(other_org)) == 1 and len(keys(rest)) == 4


def test_replication_sees_every_change_once_while_images_change(rest, realty, listing):
    """A RESO consumer follows nextLinks (by ModificationTimestamp, MediaKey) while an agent edits the realty."""
    app = rest.client.application
    editor = RestCaller(app.test_client(), rest.token)
    done = threading.Event()
    failures: list = []

    def edit() -> None:
        try:
            for n in range(15):
                items = [{"realtyImageId": i, **({"description": f"edit {n}"} if k == n % 5 else {})}
                         for k, i in enumerate(listing)]
                assert editor.update(realty, items).status_code == 200
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=edit)
    writer.start()
    seen, copy = [], {}
    url = "/reso/Media?$orderby=ModificationTimestamp,MediaKey&$top=2"
    while True:
        finished = done.is_set()  # asked before reading: a page read after this sees every edit
        body = ok(rest, **{k: v[0] for k, v in parse_qs(urlsplit(url).query).items()})
        for record in body["value"]:
            seen.append((record["MediaKey"], record["ModificationTimestamp"]))
            copy[record["MediaKey"]] = record["LongDescription"]
        if "@odata.nextLink" in body:
            url = body["@odata.nextLink"]
        elif finished:
            break
        elif body["value"]:
            # Caught up: poll on from the last change seen, as a replication job does.
            last = body["value"][-1]["ModificationTimestamp"]
            url = f"/reso/Media?$orderby=ModificationTimestamp,MediaKey&$top=2&$filter=ModificationTimestamp gt {last}"
    writer.join()
    assert not failures, failures
    assert len(seen) == len(set(seen)), "no version handed out twice"
    source = {r["MediaKey"]: r["LongDescription"] for r in ok(rest, **{"$top": "1000"})["value"]}
    assert copy == source


@pytest.mark.parametrize("method, path, status, code", [
    ("GET", "/reso/Property", 404, "NotFound"),
    ("GET", "/reso/Media/extra", 404, "NotFound"),
    ("POST", "/reso/Media", 405, "MethodNotAllowed"),
    ("DELETE", "/reso/$metadata", 405, "MethodNotAllowed"),
])
def test_a_wrong_path_or_method_under_reso_is_answered_in_odatas_shape(rest, method, path, status, code):
    response = rest.client.open(path, method=method, headers=rest.headers(with_request_id=False))
    assert response.status_code == status
    assert response.json["error"]["code"] == code and response.json["error"]["message"]
    if status == 405:
        assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}
