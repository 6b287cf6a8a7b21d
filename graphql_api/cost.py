"""What a request may cost, counted from its document and variables before any resolver runs (CONTRACT §7).

The depth bound alone lets lists multiply: `property { images { property { images { url } } } }` is
only 5 deep, yet over 200-image properties it resolves and signs 40,000 URLs; 640 aliases of
`image(id:) { url renditions { url } }` make 640 database round trips and 2,560 signatures.

`CostModel.check` runs as the last step of validation (graphql_api.view hands it the request's
variables): a request over MAX_COST, or whose answer could pass graphql_api.answer_size's
MAX_ANSWER_BYTES, gets a BAD_USER_INPUT error and nothing of it is executed. The cost is an upper
bound, counted on the operation as execution will run it (graphql_api.selections: every field once
for each object it may be resolved on, each list at its largest):

- every field costs 1, a download URL URL_COST (signing); a lookup by id ROUND_TRIP (a database round
  trip); reading a property with its images REALTY_LOAD, wherever the request may read one it has not
  read yet (a `property` lookup, each distinct id of `properties`, an image's `property` below an
  `image` lookup); a mutation MUTATION_COST.
"""
from __future__ import annotations

from typing import Any

from graphql import DocumentNode, FieldNode, GraphQLError, GraphQLField, GraphQLObjectType, GraphQLSchema

from core.domain import MAX_IMAGES_PER_REALTY
from graphql_api.answer_size import MAX_ANSWER_BYTES, AnswerSize, answer_size_error
from graphql_api.selections import LIST_ARGUMENTS, Operation, OverLimit, Walk, list_sizes, operation_of
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

FIELD_COSTS = {
    ("Image", "url"): URL_COST,
    ("Rendition", "url"): URL_COST,
    ("Image", "duplicates"): 25,  # one batched lookup per request (graphql_api.context): ~ROUND_TRIP per 20
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


class CostModel:
    """The cost rules for one schema; `check` is safe to call from any thread."""

    def __init__(self, schema: GraphQLSchema, max_cost: int = MAX_COST,
                 max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self.schema = schema
        self.max_cost = max_cost
        self.max_answer_bytes = max_answer_bytes
        self._list_sizes = list_sizes(schema)
        self._answer_size = AnswerSize(schema, self._list_sizes)

    def check(self, document: DocumentNode, operation_name: str | None,
              variables: dict[str, Any] | None) -> list[GraphQLError]:
        """[] when the operation is within the budget (or cannot run anyway: execution says why)."""
        operation = operation_of(self.schema, document, operation_name, variables)
        if operation is None:
            return []
        if self._cost(operation) > self.max_cost:
            return [GraphQLError(
                f"This request would cost more than the maximum of {self.max_cost}, counted before running it: "
                f"every field counts once for each object it may be resolved on (each list at its largest, e.g. "
                f"{MAX_IMAGES_PER_REALTY} images of a property), a download URL {URL_COST}, a lookup by id "
                f"{ROUND_TRIP} or more. Ask for fewer fields, aliases or nested lists, or split the request")]
        if self._answer_size.size(operation, self.max_answer_bytes) > self.max_answer_bytes:
            return [answer_size_error(self.max_answer_bytes)]
        return []

    def cost(self, document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None) -> int | None:
        """The operation's cost, or None when it cannot run at all (no such operation, invalid variables).

        Counting stops as soon as the cost passes max_cost; the answer is then max_cost + 1.
        """
        operation = operation_of(self.schema, document, operation_name, variables)
        return None if operation is None else self._cost(operation)

    def answer_size(self, document: DocumentNode, operation_name: str | None,
                    variables: dict[str, Any] | None) -> int | None:
        """The most bytes the operation's answer can take, or None when it cannot run at all.

        Counting stops as soon as the size passes max_answer_bytes; the answer is then max_answer_bytes + 1.
        """
        operation = operation_of(self.schema, document, operation_name, variables)
        return None if operation is None else self._answer_size.size(operation, self.max_answer_bytes)

    def _cost(self, operation: Operation) -> int:
        try:
            return _Cost(self.schema, self._list_sizes, operation).total(self.max_cost)
        except OverLimit:
            return self.max_cost + 1


class _Cost(Walk):
    """One request's cost."""

    def field_total(self, parent: GraphQLObjectType, name: str, field: GraphQLField, nodes: list[FieldNode],
                    limit: int, realty_read: bool, listed_room: bool) -> int:
        own = FIELD_COSTS.get((parent.name, name), 1)
        if parent is self.schema.mutation_type:
            own = ROUND_TRIP if name in IMAGE_MUTATIONS else MUTATION_COST
        if (parent.name, name) in READS_PROPERTY:
            own += 0 if realty_read else REALTY_LOAD
            realty_read = True
        elif (parent.name, name) in READS_ROOMS and not realty_read:
            own += ROUND_TRIP
        if (parent.name, name) in LIST_ARGUMENTS:
            # each distinct id is read once (graphql_api.context)
            own += len(set(self.list_argument(parent, name, field, nodes))) * REALTY_LOAD
        count = self.items(parent, name, field, nodes, listed_room)
        return own + self.below(parent, name, field, nodes, count, limit - own, realty_read)


__all__ = ["MAX_COST", "CostModel"]
