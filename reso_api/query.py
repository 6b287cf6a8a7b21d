"""OData query options (CONTRACT §13) read into the core's MediaQuery.

$filter and the expressions of $orderby are parsed by odata-query's grammar (its lexer and parser give an
AST); this module only walks that tree, through the field table, into the core's conditions. Whatever the
table or §13 does not name is refused with the reason, before anything is read.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Sequence

from odata_query import ast, exceptions
from odata_query.grammar import ODataLexer, ODataParser

from core.input_rules import parse_uuid
from core.media_query import (
    DEFAULT_PAGE, MAX_PAGE, AllOf, AnyOf, Comparison, Condition, MediaQuery, Negation, Operator, Ordering, Resume,
)
from reso_api.fields import BY_NAME, FIELDS, Field, LiteralRefused

OPTIONS = ("$filter", "$orderby", "$top", "$skip", "$select", "$count", "$skiptoken")
_OPERATORS = {ast.Eq: Operator.EQ, ast.NotEq: Operator.NE, ast.Gt: Operator.GT, ast.GtE: Operator.GE,
              ast.Lt: Operator.LT, ast.LtE: Operator.LE}
_MIRRORED = {Operator.GT: Operator.LT, Operator.GE: Operator.LE, Operator.LT: Operator.GT, Operator.LE: Operator.GE}
_DIRECTION = re.compile(r"\s+(asc|desc)\Z")


class QueryRefused(ValueError):
    """An option the Media resource does not take; the message says what it would."""

    def __init__(self, message: str, target: str) -> None:
        super().__init__(message)
        self.message, self.target = message, target


@dataclass(frozen=True)
class MediaRequest:
    query: MediaQuery
    selected: tuple[Field, ...]
    top: int
    """Records asked for on this page (0: none, only the count)."""


def read(args: Mapping[str, Sequence[str]]) -> MediaRequest:
    """The request's options (every value of each name) as the core's query."""
    for name, values in args.items():
        if name not in OPTIONS:
            raise QueryRefused(f"The Media resource takes the options {', '.join(OPTIONS)}; not {name}", name)
        if len(values) != 1:
            raise QueryRefused(f"{name} is given once", name)
    option = {name: values[0] for name, values in args.items()}
    top = _whole_number(option, "$top", DEFAULT_PAGE)
    if top > MAX_PAGE:
        raise QueryRefused(f"$top is at most {MAX_PAGE}: follow @odata.nextLink for more", "$top")
    count = option.get("$count", "false")
    if count not in ("true", "false"):
        raise QueryRefused("$count is true or false", "$count")
    where = _condition(_parse(option["$filter"], "$filter"), option["$filter"]) if "$filter" in option else None
    order = _order(option["$orderby"]) if "$orderby" in option else ()
    query = MediaQuery(where=where, limit=max(top, 1), offset=_whole_number(option, "$skip", 0),
                       after=_resume(option["$skiptoken"]) if "$skiptoken" in option else None,
                       count=count == "true", **({"order": order} if order else {}))
    return MediaRequest(query, _selected(option.get("$select")), top)


def skip_token(resume: Resume) -> str:
    """Where the next page starts, as @odata.nextLink carries it: the last record's stamp and key."""
    raw = f"{resume.changed_at.isoformat()}|{resume.image}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _resume(token: str) -> Resume:
    try:
        stamp, _, key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition("|")
        changed_at, image = datetime.fromisoformat(stamp), parse_uuid(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        changed_at, image = None, None
    if changed_at is None or changed_at.tzinfo is None or image is None:
        raise QueryRefused("$skiptoken is only ever one an @odata.nextLink handed out", "$skiptoken")
    return Resume(changed_at, image)


def _whole_number(option: Mapping[str, str], name: str, default: int) -> int:
    if name not in option:
        return default
    if not re.fullmatch(r"\d{1,9}", option[name]):
        raise QueryRefused(f"{name} is a whole number, 0 or more", name)
    return int(option[name])


def _parse(text: str, target: str) -> ast._Node:
    try:
        return ODataParser().parse(ODataLexer().tokenize(text))
    except exceptions.ODataException as exc:
        raise QueryRefused(f"{target} cannot be read: {exc}", target) from None


def _field(node: ast._Node, target: str, need: str) -> Field:
    if not isinstance(node, ast.Identifier) or node.namespace:
        raise QueryRefused(f"{target}: only fields of Media are compared here, not {type(node).__name__} "
                           "(no functions, arithmetic or paths)", target)
    field = BY_NAME.get(node.name)
    if field is None:
        raise QueryRefused(f"{target}: Media has no field {node.name}", target)
    if not getattr(field, need):
        usable = ", ".join(f.name for f in FIELDS if getattr(f, need))
        raise QueryRefused(f"{target}: {node.name} is not {need}; these are: {usable}", target)
    return field


def _condition(node: ast._Node, text: str) -> Condition:
    if isinstance(node, ast.BoolOp):
        kind = AllOf if isinstance(node.op, ast.And) else AnyOf
        parts = (_condition(node.left, text), _condition(node.right, text))
        return kind(tuple(c for part in parts for c in (part.conditions if isinstance(part, kind) else (part,))))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Negation(_condition(node.operand, text))
    if isinstance(node, ast.Compare) and type(node.comparator) in _OPERATORS:
        operator = _OPERATORS[type(node.comparator)]
        left, right = node.left, node.right
        if isinstance(right, ast.Identifier) and not isinstance(left, ast.Identifier):
            left, right, operator = right, left, _MIRRORED.get(operator, operator)
        field = _field(left, "$filter", "filterable")
        try:
            value = field.literal(right)
        except LiteralRefused as exc:
            raise QueryRefused(f"$filter: {field.name} {exc}", "$filter") from None
        return Comparison(field.query_field, operator, value)
    raise QueryRefused("$filter takes comparisons (eq ne gt ge lt le) of a field with a value, joined by and, or, "
                       f"not and parentheses; {text!r} has {type(node).__name__} where one is expected", "$filter")


def _order(text: str) -> tuple[Ordering, ...]:
    order = []
    for item in text.split(","):
        item = item.strip()
        direction = _DIRECTION.search(item)
        expression = item[:direction.start()] if direction else item
        field = _field(_parse(expression, "$orderby"), "$orderby", "orderable")
        order.append(Ordering(field.query_field, descending=bool(direction) and direction.group(1) == "desc"))
    return tuple(order)


def _selected(text: str | None) -> tuple[Field, ...]:
    if text is None or text.strip() == "*":
        return FIELDS
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise QueryRefused(f"$select: Media has no field {', '.join(unknown)}", "$select")
    return tuple(field for field in FIELDS if field.name in names)
