"""Queries: `null` for any id that is malformed, missing or another org's (they are all "no such id")."""
from __future__ import annotations

from ariadne import QueryType

from core.errors import InvalidInput
from core.errors import InvalidQuery
from graphql_api import ids
from graphql_api.selections import MAX_EVENTS_PER_PAGE

MAX_PROPERTIES_PER_QUERY = 100

query = QueryType()


@query.field("property")
def resolve_property(_root, info, id):
    ref = ids.realty_ref(id)
    return None if ref is None else info.context.loaders.realty(ref)


@query.field("properties")
def resolve_properties(_root, info, **args):
    values = args["ids"]
    if len(values) > MAX_PROPERTIES_PER_QUERY:
        raise InvalidInput(f"ids may hold at most {MAX_PROPERTIES_PER_QUERY} ids")
    numbers = [ids.decode(value, ids.PROPERTY) for value in values]
    found = info.context.loaders.realties([n for n in numbers if n is not None])
    return [found.get(n) if n is not None else None for n in numbers]


@query.field("room")
def resolve_room(_root, info, id):
    number = ids.decode(id, ids.ROOM)
    return None if number is None else info.context.loaders.room(number)


@query.field("image")
def resolve_image(_root, info, id):
    ref = ids.image_ref(id)
    return None if ref is None else info.context.core.views.find_image(info.context.caller, ref)


@query.field("node")
def resolve_node(_root, info, id):
    decoded = ids.decode_any(id)
    if decoded is None:
        return None
    type_name, number = decoded
    if type_name == ids.PROPERTY:
        return info.context.loaders.realty(number)
    if type_name == ids.ROOM:
        return info.context.loaders.room(number)
    return info.context.core.views.find_image(info.context.caller, number)


@query.field("events")
def resolve_events(_root, info, first: int, wait: float, after: str | None = None):
    if not 1 <= first <= MAX_EVENTS_PER_PAGE:
        raise InvalidQuery(f"first must be 1 to {MAX_EVENTS_PER_PAGE}")
    page = info.context.core.feed.page(info.context.caller, after, first, wait)
    return {"events": page.events, "next": page.next}
