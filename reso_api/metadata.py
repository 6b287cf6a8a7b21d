"""$metadata (CSDL XML) and the service document, both made from the field table in reso_api/fields.py."""
from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from reso_api.fields import FIELDS, KEY, NAMESPACE, RESOURCE

_EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
_EDM = "http://docs.oasis-open.org/odata/ns/edm"
CONTAINER = "Default"


def csdl() -> bytes:
    """The entity model an OData client generates its types from."""
    # Prefixes spelled out as CSDL documents have them: edmx: for the envelope, edm as the schema's default.
    root = ElementTree.Element("edmx:Edmx", {"xmlns:edmx": _EDMX, "Version": "4.0"})
    services = ElementTree.SubElement(root, "edmx:DataServices")
    schema = ElementTree.SubElement(services, "Schema", {"xmlns": _EDM, "Namespace": NAMESPACE})
    entity = ElementTree.SubElement(schema, "EntityType", Name=RESOURCE)
    key = ElementTree.SubElement(entity, "Key")
    ElementTree.SubElement(key, "PropertyRef", Name=KEY.name)
    for field in FIELDS:
        attributes = {"Name": field.name, "Type": field.edm_type}
        if not field.nullable:
            attributes["Nullable"] = "false"
        if field.max_length is not None:
            attributes["MaxLength"] = str(field.max_length)
        if field.edm_type == "Edm.DateTimeOffset":
            attributes["Precision"] = "6"  # microseconds: replication compares stamps exactly
        ElementTree.SubElement(entity, "Property", attributes)
    container = ElementTree.SubElement(schema, "EntityContainer", Name=CONTAINER)
    ElementTree.SubElement(container, "EntitySet", Name=RESOURCE, EntityType=f"{NAMESPACE}.{RESOURCE}")
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def service_document(metadata_url: str) -> dict[str, Any]:
    return {"@odata.context": metadata_url, "value": [{"name": RESOURCE, "kind": "EntitySet", "url": RESOURCE}]}
