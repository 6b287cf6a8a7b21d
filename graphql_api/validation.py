"""Bounds on what a document may ask for, and a cache of parsed and validated documents."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Collection

from graphql import (
    DocumentNode, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, GraphQLSchema,
    InlineFragmentNode, OperationDefinitionNode, OperationType, SelectionSetNode, parse, validate,
)
from graphql.validation import ASTValidationRule

from graphql_api.document_limits import document_limit_error

MAX_DEPTH = 10
"""Deepest nesting of fields in an operation, e.g. `property { images { room { images { id } } } }` is 5."""
MAX_INTROSPECTION_DEPTH = 15
"""Introspection (`__schema`, `__type`) nests `ofType` deeply; the explorer's query needs about 13."""
MAX_TOKENS = 10_000
"""Longest document the parser reads, in tokens."""

IMAGE_MUTATIONS = ("createPropertyImage", "createRoomImage", "createFloorPlanImage", "copyImages")
"""Mutations that process whole images (decode, render, store, or copy up to 200 of them)."""


def depth_limit_rule(max_depth: int = MAX_DEPTH, max_introspection_depth: int = MAX_INTROSPECTION_DEPTH):
    """A validation rule refusing operations whose fields nest deeper than `max_depth`."""

    class DepthLimitRule(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            fragments = {d.name.value: d for d in self.context.document.definitions
                         if isinstance(d, FragmentDefinitionNode)}
            measure = _DepthMeasure(fragments)
            for selection in _fields(node.selection_set, fragments, set()):
                limit = max_introspection_depth if selection.name.value.startswith("__") else max_depth
                depth = 1 + measure.depth(selection.selection_set)
                if depth > limit:
                    name = f"'{node.name.value}'" if node.name else "the operation"
                    self.report_error(GraphQLError(
                        f"Query depth of {name} is {depth} at field '{selection.name.value}'; "
                        f"the maximum is {limit}", node))
                    return

    return DepthLimitRule


def image_mutation_limit_rule(max_mutations: int):
    """A validation rule refusing operations that run more than `max_mutations` IMAGE_MUTATIONS.

    The multipart spec lets one file part fill many variables, and one variable may feed any number of
    aliased mutations: without this bound a single small file could be decoded, rendered and stored
    hundreds of times by one request. Callers pass the most files a request may carry.
    """

    class ImageMutationLimitRule(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            if node.operation is not OperationType.MUTATION:
                return
            fragments = {d.name.value: d for d in self.context.document.definitions
                         if isinstance(d, FragmentDefinitionNode)}
            count = sum(1 for field in _fields(node.selection_set, fragments, set())
                        if field.name.value in IMAGE_MUTATIONS)
            if count > max_mutations:
                self.report_error(GraphQLError(
                    f"An operation may run at most {max_mutations} of {', '.join(IMAGE_MUTATIONS)}; "
                    f"this one runs {count}. Split it into several requests", node))

    return ImageMutationLimitRule


class _DepthMeasure:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._fragment_depth: dict[str, int] = {}
        self._visiting: set[str] = set()

    def depth(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                deepest = max(deepest, 1 + self.depth(selection.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._fragment(selection.name.value))
        return deepest

    def _fragment(self, name: str) -> int:
        # Memoized, so "fragment bombs" (each fragment spreading the next twice) cost linear time;
        # cycles count as 0 here and are refused by the standard NoFragmentCycles rule.
        if name in self._fragment_depth:
            return self._fragment_depth[name]
        fragment = self._fragments.get(name)
        if fragment is None or name in self._visiting:
            return 0
        self._visiting.add(name)
        try:
            depth = self.depth(fragment.selection_set)
        finally:
            self._visiting.discard(name)
        self._fragment_depth[name] = depth
        return depth


def _fields(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]):
    """The top-level fields of a selection set, looking through fragments."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                seen.add(name)
                yield from _fields(fragments[name].selection_set, fragments, seen)


class DocumentCache:
    """An LRU of parsed documents and their validation results, keyed by the query text.

    Plugged into Ariadne as `query_parser` and `query_validator`: a repeated query is neither
    parsed nor validated again. The validation rules are fixed per schema, so their result for a
    given document never changes. A document over the parser's MAX_TOKENS or over the document
    limits (document_limit_error) is refused as it is parsed, before any validation rule sees it.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._documents: OrderedDict[str, DocumentNode | GraphQLError] = OrderedDict()
        self._validated: dict[int, tuple[DocumentNode, list[GraphQLError]]] = {}

    def parse(self, _context: Any, data: dict[str, Any]) -> DocumentNode:
        query = data["query"]
        with self._lock:
            cached = self._documents.get(query)
            if cached is not None:
                self._documents.move_to_end(query)
        if cached is None:
            try:
                cached = parse(query, max_tokens=MAX_TOKENS)
            except GraphQLError as error:
                cached = error
            else:
                cached = document_limit_error(cached) or cached
            self._remember(query, cached)
        if isinstance(cached, GraphQLError):
            raise cached
        return cached

    def validate(self, schema: GraphQLSchema, document: DocumentNode,
                 rules: Collection[type[ASTValidationRule]] | None = None, max_errors: int | None = None,
                 **kwargs: Any) -> list[GraphQLError]:
        key = id(document)
        with self._lock:
            entry = self._validated.get(key)
        if entry is not None and entry[0] is document:
            return entry[1]
        errors = validate(schema, document, rules=rules, max_errors=max_errors, **kwargs)
        with self._lock:
            if any(d is document for d in self._documents.values()):
                self._validated[key] = (document, errors)
        return errors

    def _remember(self, query: str, value: DocumentNode | GraphQLError) -> None:
        with self._lock:
            self._documents[query] = value
            self._documents.move_to_end(query)
            while len(self._documents) > self._size:
                _, evicted = self._documents.popitem(last=False)
                self._validated.pop(id(evicted), None)
