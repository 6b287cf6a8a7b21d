"""What a parsed document may hold before graphql-core validates it (issue 20, finding 6).

Validation costs more than reading: OverlappingFieldsCanBeMerged compares every two fields that land
under one response name, and every two fragments spread side by side, recursing into what each pair
selects. Within the parser's token limit, 700 fragments spread in one selection took 1.6 s of CPU, and
300 copies of `images { property { id } }` in one selection 1.4 s, before graphql-core's own budget
gave up with "Validation aborted.". These counts are linear in the document and stop at the first
limit passed: a document over one is refused saying what to change, and what graphql-core validates
costs it time in proportion to the document's length (about 0.3 s at the parser's MAX_TOKENS).

Fields are counted as execution merges them, not as written: by response name across fragments,
inline fragments and same-named fields' sub-selections, as graphql-core's collect_fields does (types
aside: a field under `... on Room` counts with one under `... on Property`). So a fragment spread in
many places counts in each, and one spread twice in one selection (a "fragment bomb") once.
"""
from __future__ import annotations

from graphql import (
    DocumentNode, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode,
    OperationDefinitionNode, SelectionSetNode,
)

MAX_OPERATIONS = 20
"""Operations in one document: one runs, every one is validated. An explorer tab of saved queries fits."""
MAX_FRAGMENTS = 50
"""Fragment definitions in one document; every two spread side by side are compared."""
MAX_FRAGMENT_SPREADS = 1_000
"""`...Name` as written in one document. 640 aliases that each spread a fragment stay within it: the cost
counted after validation (graphql_api.cost) is what refuses those."""
MAX_SELECTIONS = 5_000
"""Fields and spreads with fragments expanded where they are spread (not multiplied by list sizes: that is
graphql_api.cost's). The explorer's introspection query makes about 100, every field of a property 50."""
MAX_SAME_NAME_PAIRS = 2_000
"""Pairs of fields under one response name in one selection, over the whole document: graphql-core compares
every two, and then their sub-selections. `id` in each of a few fragments on one type makes a handful; 300
copies of `images { property { id } }` in one selection made 135,000."""


def document_limit_error(document: DocumentNode) -> GraphQLError | None:
    """Why `document` holds more than validation is asked to check (the MAX_* above), or None."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    if len(operations) > MAX_OPERATIONS:
        return GraphQLError(f"A document may hold at most {MAX_OPERATIONS} operations; this one holds "
                            f"{len(operations)}. Send the others in requests of their own")
    if len(fragments) > MAX_FRAGMENTS:
        return GraphQLError(f"A document may hold at most {MAX_FRAGMENTS} fragment definitions; this one holds "
                            f"{len(fragments)}. Write their fields in place, or split the request")
    spreads = _written_spreads(operations + fragments)
    spread_count = sum(len(names) for names in spreads.values())
    if spread_count > MAX_FRAGMENT_SPREADS:
        return GraphQLError(f"A document may spread fragments at most {MAX_FRAGMENT_SPREADS} times; this one spreads "
                            f"them {spread_count} times. Split the request")
    by_name = {f.name.value: f for f in fragments}
    # Validation checks every fragment, spread or not: those no operation reaches are counted on their own.
    reached = _reached(operations, by_name, spreads)
    roots = operations + [f for f in fragments if f.name.value not in reached]
    try:
        _Merged(by_name).count([d.selection_set for d in roots])
    except GraphQLError as refusal:
        return refusal
    return None


class _Merged:
    """Counts a document's selections as execution merges them; a GraphQLError at the first limit passed."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._selections = 0
        self._pairs = 0

    def count(self, roots: list[SelectionSetNode]) -> None:
        # Iterative: fragments that spread fragments nest deeper than Python's recursion limit allows.
        pending: list[tuple[SelectionSetNode, ...]] = [(root,) for root in roots]
        counted: set[tuple[int, ...]] = set()
        while pending:
            selection_sets = pending.pop()
            key = tuple(id(s) for s in selection_sets)
            if key in counted:
                continue
            counted.add(key)
            for name, fields in self._collect(selection_sets).items():
                self._pairs += len(fields) * (len(fields) - 1) // 2
                if self._pairs > MAX_SAME_NAME_PAIRS:
                    raise GraphQLError(
                        f"'{name}' is asked {len(fields)} times in one selection (fragments included), and this "
                        f"document makes more than {MAX_SAME_NAME_PAIRS} pairs of fields under one name, every "
                        "one of which must be checked before it runs. Ask for each field once per selection")
                below = tuple(f.selection_set for f in fields if f.selection_set is not None)
                if below:
                    pending.append(below)

    def _collect(self, selection_sets: tuple[SelectionSetNode, ...]) -> dict[str, list[FieldNode]]:
        """The fields merged into one selection, by response name."""
        fields: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()
        pending = [s for selection_set in selection_sets for s in selection_set.selections]
        while pending:
            self._selections += 1
            if self._selections > MAX_SELECTIONS:
                raise GraphQLError(f"This document makes more than {MAX_SELECTIONS} selections, its fragments expanded "
                                 "where they are spread. Ask for fewer fields, or split the request")
            selection = pending.pop()
            if isinstance(selection, FieldNode):
                fields.setdefault((selection.alias or selection.name).value, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                pending.extend(selection.selection_set.selections)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in spread and name in self._fragments:
                    spread.add(name)
                    pending.extend(self._fragments[name].selection_set.selections)
        return fields


def _written_spreads(definitions: list) -> dict[int, list[str]]:
    """The names each definition spreads where it is written (by id of the definition)."""
    spreads: dict[int, list[str]] = {}
    for definition in definitions:
        names = spreads[id(definition)] = []
        pending = list(definition.selection_set.selections)
        while pending:
            selection = pending.pop()
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif selection.selection_set is not None:
                pending.extend(selection.selection_set.selections)
    return spreads


def _reached(operations: list[OperationDefinitionNode], fragments: dict[str, FragmentDefinitionNode],
             spreads: dict[int, list[str]]) -> set[str]:
    """The names of the fragments the operations spread, directly or through other fragments."""
    reached: set[str] = set()
    pending = [name for operation in operations for name in spreads[id(operation)]]
    while pending:
        name = pending.pop()
        if name not in reached and name in fragments:
            reached.add(name)
            pending.extend(spreads[id(fragments[name])])
    return reached


__all__ = ["MAX_FRAGMENTS", "MAX_FRAGMENT_SPREADS", "MAX_OPERATIONS", "MAX_SAME_NAME_PAIRS", "MAX_SELECTIONS",
           "document_limit_error"]
