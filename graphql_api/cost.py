"""A per-request budget on how much a request may make the server resolve.

The depth bound alone lets lists multiply: `property { images { property { images { property { images
{ url } } } } } }` is only 7 deep, yet over a 200-image property it resolves and signs 8 million URLs;
a hundred aliases of `property { images { url } }` multiply the same way.

`CostBudget` is a graphql-core middleware, one per request. Whenever a field returns a list, it charges
the list's length times what the query asks of each item (every field counts 1, or its FIELD_COSTS, down
to and including the list fields below, which charge their own items when they resolve), before any item
is resolved. Charging what the data really holds keeps small answers cheap (a deep query over a
three-image property costs little); a request that would pass MAX_COST gets an error at each list it
can no longer afford, and those lists are never walked. Everything not inside a list is bounded by the
document's size (validation.MAX_TOKENS).
"""
from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode, FragmentSpreadNode, GraphQLList, GraphQLNamedType, GraphQLResolveInfo, InlineFragmentNode,
    SelectionSetNode, get_named_type, get_nullable_type,
)

from core.errors import InvalidInput

MAX_COST = 50_000
"""Most a request may cost: about a second of work. Every field of every image of a full (200-image)
property, with renditions, rooms and their images, costs about 20 000."""
FIELD_COSTS = {("Image", "url"): 10, ("Rendition", "url"): 10}
"""Fields dearer than a plain one: signing a download URL costs about ten."""


class CostBudget:
    def __init__(self, max_cost: int = MAX_COST) -> None:
        self.max_cost = max_cost
        self.spent = 0
        self._per_item: dict[tuple[int, ...], int] = {}
        self._fragments: dict[str, int] = {}

    def resolve(self, next_, root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        value = next_(root, info, **args)
        if isinstance(value, (list, tuple)) and value and info.field_nodes[0].selection_set is not None:
            self.spent += len(value) * self._item_cost(info)
            if self.spent > self.max_cost:
                raise InvalidInput(
                    f"Query cost over the maximum of {self.max_cost}: every field counts once for each object "
                    "it is resolved on (a download URL ten times). Ask for fewer fields, aliases or nested "
                    "lists, or split the request")
        return value

    def _item_cost(self, info: GraphQLResolveInfo) -> int:
        # The same field of the same document is charged once per parent object: measure it once.
        key = tuple(id(node) for node in info.field_nodes)
        if key not in self._per_item:
            measure = _ItemCost(info, self._fragments)
            item_type = get_named_type(info.return_type)
            self._per_item[key] = sum(measure.cost(node.selection_set, item_type) for node in info.field_nodes)
        return self._per_item[key]


class _ItemCost:
    """What a selection asks of one object, its list fields counted as 1 (their items charge themselves)."""

    def __init__(self, info: GraphQLResolveInfo, fragment_costs: dict[str, int]) -> None:
        self._schema = info.schema
        self._fragments = info.fragments
        # Memoized per request (a fragment's cost depends only on the fragment), so fragments spreading
        # each other several times cost linear time, not exponential.
        self._fragment_costs = fragment_costs
        self._visiting: set[str] = set()

    def cost(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                fragment_type = self._schema.get_type(condition.name.value) if condition else parent
                total += self.cost(selection.selection_set, fragment_type or parent)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, parent)
        return total

    def _fragment(self, name: str, parent: GraphQLNamedType) -> int:
        if name not in self._fragment_costs:
            fragment = self._fragments.get(name)
            if fragment is None or name in self._visiting:  # cycles never pass validation anyway
                return 0
            self._visiting.add(name)
            try:
                fragment_type = self._schema.get_type(fragment.type_condition.name.value)
                self._fragment_costs[name] = self.cost(fragment.selection_set, fragment_type or parent)
            finally:
                self._visiting.discard(name)
        return self._fragment_costs[name]

    def _field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        own = FIELD_COSTS.get((parent.name, node.name.value), 1)
        field = getattr(parent, "fields", {}).get(node.name.value)
        if field is None or node.selection_set is None:  # a leaf, or `__typename`
            return own
        if isinstance(get_nullable_type(field.type), GraphQLList):
            return own  # its items are charged when the list resolves
        return own + self.cost(node.selection_set, get_named_type(field.type))
