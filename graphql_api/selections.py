"""A request's operation walked as graphql-core's execution will run it, for what is counted before it runs.

graphql_api.cost counts the work a request asks for, graphql_api.answer_size the bytes of its answer;
both walk the operation here, the way execution does, and price each field in their own terms:

- fields are collected by response key (aliases count separately; a field asked twice under one key is
  merged, as execution merges it), once for every object they may be resolved on;
- a list multiplies what is asked of its items by the most items it can hold (LIST_SIZES: a property's
  200 images, an image's 3 renditions...; `properties` by the number of ids asked);
- @skip/@include are applied with the request's variables; on an interface (`node`) the dearest
  possible type counts; fragments are included where execution would include them, so fragments
  spreading each other ("fragment bombs") count what they really ask, in time linear in the document
  (totals are memoized per selection and type);
- counting stops as soon as a total passes its limit (OverLimit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from graphql import (
    DocumentNode, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLField, GraphQLIncludeDirective,
    GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLSkipDirective, InlineFragmentNode, SchemaMetaFieldDef,
    SelectionSetNode, TypeMetaFieldDef, TypeNameMetaFieldDef, get_argument_values, get_directive_values,
    get_named_type, get_nullable_type, get_operation_ast, get_variable_values, is_abstract_type, is_enum_type,
    is_input_object_type, is_interface_type, is_object_type,
)

from core.domain import MAX_IMAGES_PER_REALTY, MAX_ROOMS_PER_REALTY
from core.channels import CHANNELS
from core.events import EVENT_TYPES
from core.photo_checks import MAX_DUPLICATES
from core.processing import RENDITIONS
from core.webhooks import DELIVERY_LOG_PAGE, MAX_WEBHOOKS_PER_ORG

MAX_EVENTS_PER_PAGE = 100
"""`events(first:)` over GraphQL: a page of events with their `image` (some 34 KB each at worst) must fit
the answer's byte bound (graphql_api.answer_size); REST pages go to 1000."""
LIST_SIZES = {
    ("Property", "images"): MAX_IMAGES_PER_REALTY,
    ("Property", "rooms"): MAX_ROOMS_PER_REALTY,
    ("Room", "images"): MAX_IMAGES_PER_REALTY,
    ("Image", "renditions"): len(RENDITIONS),
    ("Image", "channels"): len(CHANNELS),
    ("Image", "duplicates"): MAX_DUPLICATES,
    ("CopyImagesPayload", "images"): MAX_IMAGES_PER_REALTY,
    ("EventPage", "events"): MAX_EVENTS_PER_PAGE,
    ("Query", "webhooks"): MAX_WEBHOOKS_PER_ORG,
    ("Webhook", "events"): len(EVENT_TYPES),
    ("Webhook", "deliveries"): DELIVERY_LOG_PAGE,
}
"""The most items each list field can hold. Every list of the schema must be here (checked at start)."""
LIST_ARGUMENTS = {("Query", "properties"): "ids"}
"""Lists as long as one of their arguments."""
ROOM_IMAGES_PER_ROOM_LISTED = math.ceil(MAX_IMAGES_PER_REALTY / MAX_ROOMS_PER_REALTY)
"""`Room.images` below `Property.rooms`: a room's images are some of its property's, each in one room, so
all the rooms listed hold at most MAX_IMAGES_PER_REALTY together (not 200 rooms times 200)."""

META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef, "__typename": TypeNameMetaFieldDef}


class OverLimit(Exception):
    """A total passed its limit: counting stops there."""


@dataclass(frozen=True)
class Operation:
    """The operation a request runs, with what its selections are read with."""

    root: GraphQLObjectType
    selection_set: SelectionSetNode
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]


def operation_of(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                 variables: dict[str, Any] | None) -> Operation | None:
    """The operation with its coerced variables, or None when it cannot run at all (no such operation,
    invalid variables: execution reports why)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    root = schema.get_root_type(operation.operation)
    if isinstance(coerced, list) or root is None:
        return None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return Operation(root, operation.selection_set, fragments, coerced)


def list_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """LIST_SIZES and the introspection lists' sizes; ValueError when a list of the schema has none."""
    sizes = {**LIST_SIZES, **_introspection_list_sizes(schema)}
    unbounded = [f"{t.name}.{name}" for t in schema.type_map.values() if is_object_type(t)
                 for name, field in t.fields.items()
                 if _is_object_list(field) and (t.name, name) not in sizes and (t.name, name) not in LIST_ARGUMENTS]
    if unbounded:
        raise ValueError(f"list fields without a size in graphql_api.selections.LIST_SIZES: {', '.join(unbounded)}")
    return sizes


class Walk:
    """Sums what `field_total` says of every field the operation resolves; subclasses price a field."""

    def __init__(self, schema: GraphQLSchema, sizes: dict[tuple[str, str], int], operation: Operation) -> None:
        self.schema = schema
        self._sizes = sizes
        self._operation = operation
        self._memo: dict[tuple[str, bool, bool, tuple[int, ...]], int] = {}

    def total(self, limit: int) -> int:
        """The operation's total; OverLimit past `limit`."""
        return self.object_total(self._operation.root, (self._operation.selection_set,), limit)

    def object_total(self, parent: Any, selection_sets: Sequence[SelectionSetNode], limit: int,
                     realty_read: bool = False, listed_room: bool = False) -> int:
        """What `selection_sets` ask of one object of type `parent`; OverLimit past `limit`.

        `realty_read`: the object's property has been read by this request already. `listed_room`: the
        object is one of a `Property.rooms` list.
        """
        if is_abstract_type(parent):
            return max((self.object_total(t, selection_sets, limit, realty_read)
                        for t in self.schema.get_possible_types(parent)), default=0)
        realty_read = realty_read or parent.name == "Property"
        key = (parent.name, realty_read, listed_room, tuple(id(s) for s in selection_sets))
        if key in self._memo:
            if self._memo[key] > limit:
                raise OverLimit
            return self._memo[key]
        total = 0
        for nodes in self._collect(parent, selection_sets).values():
            name = nodes[0].name.value
            field = parent.fields.get(name) or META_FIELDS.get(name)
            # An unknown field is refused by validation before this runs.
            total += 1 if field is None else self.field_total(parent, name, field, nodes, limit - total, realty_read,
                                                              listed_room)
            if total > limit:
                raise OverLimit
        self._memo[key] = total
        return total

    def field_total(self, parent: GraphQLObjectType, name: str, field: GraphQLField, nodes: list[FieldNode],
                    limit: int, realty_read: bool, listed_room: bool) -> int:
        """What one field (asked by `nodes` under one response key) totals, what it selects included."""
        raise NotImplementedError

    def items(self, parent: GraphQLObjectType, name: str, field: GraphQLField, nodes: list[FieldNode],
              listed_room: bool) -> int:
        """The most items the field's list may hold; 1 for a field that is not a list."""
        if (parent.name, name) in LIST_ARGUMENTS:
            return len(self.list_argument(parent, name, field, nodes))
        if (parent.name, name) == ("Room", "images") and listed_room:
            return ROOM_IMAGES_PER_ROOM_LISTED
        if isinstance(get_nullable_type(field.type), GraphQLList):
            return self._sizes.get((parent.name, name), 1)
        return 1

    def list_argument(self, parent: GraphQLObjectType, name: str, field: GraphQLField,
                      nodes: list[FieldNode]) -> Sequence[Any]:
        """The argument a LIST_ARGUMENTS field is as long as."""
        values = get_argument_values(field, nodes[0], self._operation.variables)
        return values.get(LIST_ARGUMENTS[(parent.name, name)]) or ()

    def below(self, parent: GraphQLObjectType, name: str, field: GraphQLField, nodes: list[FieldNode], count: int,
              limit: int, realty_read: bool) -> int:
        """What the field's selections total on its `count` objects; OverLimit past `limit`."""
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        if not selection_sets or count == 0:
            return 0
        if limit < count:
            raise OverLimit
        return count * self.object_total(get_named_type(field.type), selection_sets, limit // count, realty_read,
                                         listed_room=(parent.name, name) == ("Property", "rooms"))

    def _collect(self, parent: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]) -> dict[str, list]:
        """The fields executed on an object of type `parent`, by response key (graphql-core's collect_fields)."""
        fields: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        pending = [s for selection_set in reversed(selection_sets) for s in reversed(selection_set.selections)]
        while pending:
            selection = pending.pop()
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, parent):
                    pending.extend(reversed(selection.selection_set.selections))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._operation.fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if self._applies(fragment.type_condition, parent):
                    pending.extend(reversed(fragment.selection_set.selections))
        return fields

    def _included(self, node: Any) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self._operation.variables)
        if skip is not None and skip["if"] is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self._operation.variables)
        return include is None or include["if"] is not False

    def _applies(self, condition: Any, parent: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        condition_type = self.schema.get_type(condition.name.value)
        if condition_type is parent:
            return True
        return is_abstract_type(condition_type) and self.schema.is_sub_type(condition_type, parent)


def _is_object_list(field: GraphQLField) -> bool:
    named = get_named_type(field.type)
    return isinstance(get_nullable_type(field.type), GraphQLList) and (is_object_type(named) or is_abstract_type(named))


def _introspection_list_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """Introspection lists at the average size they have in this schema: `__schema { types { fields } }`
    then counts what it really resolves, without a bound per type that every type would be charged."""
    types = list(schema.type_map.values())
    composite = [t for t in types if is_object_type(t) or is_interface_type(t)]
    fields = [f for t in composite for f in t.fields.values()]

    def average(counts: list[int]) -> int:
        return max(1, math.ceil(sum(counts) / len(counts))) if counts else 1

    return {
        ("__Schema", "types"): len(types),
        ("__Schema", "directives"): len(schema.directives),
        ("__Type", "fields"): average([len(t.fields) for t in composite]),
        ("__Type", "interfaces"): average([len(t.interfaces) for t in composite]),
        ("__Type", "possibleTypes"): average([len(schema.get_possible_types(t)) for t in types
                                              if is_abstract_type(t)]),
        ("__Type", "enumValues"): average([len(t.values) for t in types if is_enum_type(t)]),
        ("__Type", "inputFields"): average([len(t.fields) for t in types if is_input_object_type(t)]),
        ("__Field", "args"): average([len(f.args) for f in fields]),
        ("__Directive", "args"): average([len(d.args) for d in schema.directives]),
        ("__Directive", "locations"): average([len(d.locations) for d in schema.directives]),
    }


__all__ = ["LIST_ARGUMENTS", "LIST_SIZES", "Operation", "OverLimit", "Walk", "list_sizes", "operation_of"]
