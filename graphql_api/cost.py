"""What a request may cost, counted from its document and variables before any resolver runs (CONTRACT §7).

The depth bound alone lets lists multiply: `property { images { property { images { url } } } }` is
only 5 deep, yet over 200-image properties it resolves and signs 40,000 URLs; 640 aliases of
`image(id:) { url renditions { url } }` make 640 database round trips and 2,560 signatures.

`CostModel.check` runs as the last step of validation (graphql_api.view hands it the request's
variables): a request over MAX_COST gets a BAD_USER_INPUT error and nothing of it is executed. The
cost is an upper bound, counted the way graphql-core will execute the operation:

- every field costs 1, once per response key (aliases count separately; a field asked twice under
  the same key is merged, as execution merges it), and once for every object it may be resolved on;
- a list multiplies what is asked of its items by the most items it can hold (LIST_SIZES: a
  property's 200 images, an image's 3 renditions...; `properties` by the number of ids asked);
- a download URL costs URL_COST (signing); a lookup by id ROUND_TRIP (a database round trip); reading
  a property with its images REALTY_LOAD, wherever the request may read one it has not read yet (a
  `property` lookup, each distinct id of `properties`, an image's `property` below an `image` lookup);
  a mutation MUTATION_COST;
- @skip/@include are applied with the request's variables; on an interface (`node`) the dearest
  possible type counts; fragments are included where execution would include them, so fragments
  spreading each other ("fragment bombs") cost what they really ask, and are counted in time
  linear in the document (results are memoized per selection and type).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from graphql import (
    DocumentNode, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, GraphQLField,
    GraphQLIncludeDirective, GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLSkipDirective, InlineFragmentNode,
    SchemaMetaFieldDef, SelectionSetNode, TypeMetaFieldDef, TypeNameMetaFieldDef, get_argument_values,
    get_directive_values, get_named_type, get_nullable_type, get_operation_ast, get_variable_values,
    is_abstract_type, is_enum_type, is_input_object_type, is_interface_type, is_object_type,
)

from core.domain import MAX_IMAGES_PER_REALTY, MAX_ROOMS_PER_REALTY
from core.events import EVENT_TYPES
from core.feed import MAX_PAGE
from core.webhooks import DELIVERY_LOG_PAGE, MAX_WEBHOOKS_PER_ORG
from core.processing import RENDITIONS
from graphql_api.validation import IMAGE_MUTATIONS

MAX_COST = 50_000
"""Most a request may cost: about a quarter of a second of work (a field takes 2 to 5 µs). Every field of
a full property (200 images with renditions and URLs, its rooms and their images) costs about 18,000,
the explorer's introspection query about 28,000."""
URL_COST = 5
"""A signed download URL: a cached signature costs about a field, a fresh one about ten."""
ROUND_TRIP = 500
"""A lookup by id: one unit of work and its query. Measured at about 450 fields on SQLite."""
REALTY_LOAD = 5_000
"""Reading a property: its (up to 200) images come with it. Measured at about 5,600 fields."""
MUTATION_COST = ROUND_TRIP + REALTY_LOAD
"""A mutation writes, and most read and lock the property first. The ones that decode, render, store or
copy whole images cost ROUND_TRIP here: validation.image_mutation_limit_rule bounds how many of them a
request runs (as many as it may carry files), and this budget must not refuse what that rule allows."""

LIST_SIZES = {
    ("Property", "images"): MAX_IMAGES_PER_REALTY,
    ("Property", "rooms"): MAX_ROOMS_PER_REALTY,
    ("Room", "images"): MAX_IMAGES_PER_REALTY,
    ("Image", "renditions"): len(RENDITIONS),
    ("CopyImagesPayload", "images"): MAX_IMAGES_PER_REALTY,
    ("EventPage", "events"): MAX_PAGE,
    ("Query", "webhooks"): MAX_WEBHOOKS_PER_ORG,
    ("Webhook", "events"): len(EVENT_TYPES),
    ("Webhook", "deliveries"): DELIVERY_LOG_PAGE,
}
"""The most items each list field can hold. Every list of the schema must be here (checked at start)."""
LIST_ARGUMENTS = {("Query", "properties"): "ids"}
"""Lists as long as one of their arguments."""
FIELD_COSTS = {
    ("Image", "url"): URL_COST,
    ("Rendition", "url"): URL_COST,
    ("Query", "image"): ROUND_TRIP,
    ("Query", "room"): ROUND_TRIP,
    ("Query", "property"): ROUND_TRIP + REALTY_LOAD,
    ("Query", "node"): ROUND_TRIP + REALTY_LOAD,  # the id may name a property
    ("Query", "properties"): ROUND_TRIP,  # one query; REALTY_LOAD per distinct id is added
    ("Query", "events"): ROUND_TRIP,
    ("Query", "webhooks"): ROUND_TRIP,
    ("Webhook", "deliveries"): ROUND_TRIP,
}
READS_PROPERTY = {("Image", "property"), ("Room", "property"), ("Room", "images")}
"""Fields that read their object's property unless this request has read it already (graphql_api.context
keeps what it read): it has below a Property, and below any of these fields."""
READS_ROOMS = {("Image", "room")}
"""Fields that read the rooms of their object's property, unless it was read."""
ROOM_IMAGES_PER_ROOM_LISTED = math.ceil(MAX_IMAGES_PER_REALTY / MAX_ROOMS_PER_REALTY)
"""`Room.images` below `Property.rooms`: a room's images are some of its property's, each in one room, so
all the rooms listed hold at most MAX_IMAGES_PER_REALTY together (not 200 rooms times 200)."""


_META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef, "__typename": TypeNameMetaFieldDef}


class _OverBudget(Exception):
    pass


class CostModel:
    """The cost rules for one schema; `check` is safe to call from any thread."""

    def __init__(self, schema: GraphQLSchema, max_cost: int = MAX_COST) -> None:
        self.schema = schema
        self.max_cost = max_cost
        self._list_sizes = {**LIST_SIZES, **_introspection_list_sizes(schema)}
        unbounded = [f"{t.name}.{name}" for t in schema.type_map.values() if is_object_type(t)
                     for name, field in t.fields.items()
                     if _is_object_list(field) and (t.name, name) not in self._list_sizes
                     and (t.name, name) not in LIST_ARGUMENTS]
        if unbounded:
            raise ValueError(f"list fields without a size in graphql_api.cost.LIST_SIZES: {', '.join(unbounded)}")

    def check(self, document: DocumentNode, operation_name: str | None,
              variables: dict[str, Any] | None) -> list[GraphQLError]:
        """[] when the operation is within the budget (or cannot run anyway: execution says why)."""
        cost = self.cost(document, operation_name, variables)
        if cost is None or cost <= self.max_cost:
            return []
        return [GraphQLError(
            f"This request would cost more than the maximum of {self.max_cost}, counted before running it: every "
            f"field counts once for each object it may be resolved on (each list at its largest, e.g. "
            f"{MAX_IMAGES_PER_REALTY} images of a property), a download URL {URL_COST}, a lookup by id "
            f"{ROUND_TRIP} or more. Ask for fewer fields, aliases or nested lists, or split the request")]

    def cost(self, document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None) -> int | None:
        """The operation's cost, or None when it cannot run at all (no such operation, invalid variables).

        Counting stops as soon as the cost passes max_cost; the answer is then max_cost + 1.
        """
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return None
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):  # variable errors: execution reports them
            return None
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return None
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        try:
            return _Count(self, fragments, coerced).object_cost(root, (operation.selection_set,), self.max_cost)
        except _OverBudget:
            return self.max_cost + 1


class _Count:
    """One request's count: its fragments, its variables, and the costs already measured."""

    def __init__(self, model: CostModel, fragments: dict[str, FragmentDefinitionNode], variables: Any) -> None:
        self._model = model
        self._schema = model.schema
        self._fragments = fragments
        self._variables = variables
        self._memo: dict[tuple[str, bool, bool, tuple[int, ...]], int] = {}

    def object_cost(self, parent: Any, selection_sets: Sequence[SelectionSetNode], limit: int,
                    realty_read: bool = False, listed_room: bool = False) -> int:
        """What `selection_sets` ask of one object of type `parent`; _OverBudget past `limit`.

        `realty_read`: the object's property has been read by this request already. `listed_room`: the
        object is one of a `Property.rooms` list.
        """
        if is_abstract_type(parent):
            return max((self.object_cost(t, selection_sets, limit, realty_read)
                        for t in self._schema.get_possible_types(parent)), default=0)
        realty_read = realty_read or parent.name == "Property"
        key = (parent.name, realty_read, listed_room, tuple(id(s) for s in selection_sets))
        if key in self._memo:
            if self._memo[key] > limit:
                raise _OverBudget
            return self._memo[key]
        total = 0
        for nodes in self._collect(parent, selection_sets).values():
            total += self._field_cost(parent, nodes, limit - total, realty_read, listed_room)
            if total > limit:
                raise _OverBudget
        self._memo[key] = total
        return total

    def _field_cost(self, parent: GraphQLObjectType, nodes: list[FieldNode], limit: int, realty_read: bool,
                    listed_room: bool) -> int:
        name = nodes[0].name.value
        field = parent.fields.get(name) or _META_FIELDS.get(name)
        if field is None:  # validation refuses unknown fields before this runs
            return 1
        own = FIELD_COSTS.get((parent.name, name), 1)
        if parent is self._schema.mutation_type:
            own = ROUND_TRIP if name in IMAGE_MUTATIONS else MUTATION_COST
        if (parent.name, name) in READS_PROPERTY:
            own += 0 if realty_read else REALTY_LOAD
            realty_read = True
        elif (parent.name, name) in READS_ROOMS and not realty_read:
            own += ROUND_TRIP
        count = 1
        if (parent.name, name) in LIST_ARGUMENTS:
            values = get_argument_values(field, nodes[0], self._variables)
            ids = values.get(LIST_ARGUMENTS[(parent.name, name)]) or ()
            count = len(ids)
            own += len(set(ids)) * REALTY_LOAD  # each distinct id is read once (graphql_api.context)
        elif (parent.name, name) == ("Room", "images") and listed_room:
            count = ROOM_IMAGES_PER_ROOM_LISTED
        elif isinstance(get_nullable_type(field.type), GraphQLList):
            count = self._model._list_sizes.get((parent.name, name), 1)
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        if not selection_sets or count == 0:
            return own
        remaining = limit - own
        if remaining < count:
            raise _OverBudget
        return own + count * self.object_cost(get_named_type(field.type), selection_sets, remaining // count,
                                              realty_read, listed_room=(parent.name, name) == ("Property", "rooms"))

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
                fragment = self._fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if self._applies(fragment.type_condition, parent):
                    pending.extend(reversed(fragment.selection_set.selections))
        return fields

    def _included(self, node: Any) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self._variables)
        if skip is not None and skip["if"] is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self._variables)
        return include is None or include["if"] is not False

    def _applies(self, condition: Any, parent: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        condition_type = self._schema.get_type(condition.name.value)
        if condition_type is parent:
            return True
        return is_abstract_type(condition_type) and self._schema.is_sub_type(condition_type, parent)


def _is_object_list(field: GraphQLField) -> bool:
    named = get_named_type(field.type)
    return isinstance(get_nullable_type(field.type), GraphQLList) and (is_object_type(named) or is_abstract_type(named))


def _introspection_list_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """Introspection lists at the average size they have in this schema: `__schema { types { fields } }`
    then costs what it really resolves, without a bound per type that every type would be charged."""
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
    }


__all__ = ["MAX_COST", "CostModel"]
