"""The rules of a query of the published-images feed (core/media_query.py), on plain objects."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from core.errors import InvalidQuery
from core.media_query import (
    MAX_PAGE, REPLICATION_ORDER, Comparison, MediaField, MediaQuery, Operator, Ordering, Resume,
)

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def test_a_page_holds_one_to_a_thousand_images():
    assert MediaQuery(limit=MAX_PAGE).limit == 1000
    for limit in (0, MAX_PAGE + 1):
        with pytest.raises(InvalidQuery):
            MediaQuery(limit=limit)
    with pytest.raises(InvalidQuery):
        MediaQuery(offset=-1)


def test_every_order_ends_with_the_image_so_pages_neither_repeat_nor_skip():
    assert MediaQuery().order == REPLICATION_ORDER
    by_position = MediaQuery(order=(Ordering(MediaField.POSITION, descending=True),))
    assert by_position.order == (Ordering(MediaField.POSITION, True), Ordering(MediaField.IMAGE, True))
    assert not by_position.replicating
    with pytest.raises(InvalidQuery):
        MediaQuery(order=(Ordering(MediaField.HERO), Ordering(MediaField.HERO, descending=True)))


def test_only_the_replication_order_resumes_after_a_key():
    resume = Resume(NOW, uuid.uuid4())
    assert MediaQuery(after=resume).replicating
    newest_first = (Ordering(MediaField.CHANGED_AT, descending=True),)
    assert MediaQuery(order=newest_first, after=resume).order[1] == Ordering(MediaField.IMAGE, descending=True)
    for order in ((Ordering(MediaField.POSITION),),
                  (Ordering(MediaField.CHANGED_AT), Ordering(MediaField.IMAGE, descending=True))):
        with pytest.raises(InvalidQuery):
            MediaQuery(order=order, after=resume)


@pytest.mark.parametrize("field, operator, value", [
    (MediaField.HERO, Operator.GT, True),  # a flag is equal or not
    (MediaField.FLOOR_PLAN, Operator.LE, False),
    (MediaField.CHANGED_AT, Operator.GT, datetime(2026, 1, 1)),  # a time without its offset
    (MediaField.POSITION, Operator.EQ, "1"),
    (MediaField.POSITION, Operator.EQ, True),
    (MediaField.IMAGE, Operator.EQ, "2f1c0d4e-8a53-4b6e-9d2f-0c7a1e5b3d91"),  # a uuid, not its text
])
def test_a_comparison_takes_a_value_of_its_fields_kind(field, operator, value):
    with pytest.raises(InvalidQuery):
        Comparison(field, operator, value)


def test_comparisons_that_hold():
    assert Comparison(MediaField.CHANGED_AT, Operator.GE, NOW).value == NOW
    assert Comparison(MediaField.HERO, Operator.NE, False).operator is Operator.NE
    assert Comparison(MediaField.POSITION, Operator.LT, 3).value == 3
