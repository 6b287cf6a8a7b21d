"""The core's rules on what callers write, each on its own: texts and the spelling of ids."""
from __future__ import annotations

import uuid

import pytest

from core.errors import InvalidInput, Problem
from core.input_rules import (
    MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, TextRules, clean_file_name, is_storable, parse_uuid,
)

U = uuid.UUID("ddc25849-7bc7-43c0-9c3b-602cb03f7806")


def refused(check) -> list[tuple[str, Problem, str]]:
    rules = TextRules()
    check(rules)
    with pytest.raises(InvalidInput) as raised:
        rules.raise_if_any()
    return [(e.target, e.problem, e.message) for e in raised.value.errors]


def test_a_description_is_kept_exactly_as_given_up_to_its_limit():
    rules = TextRules()
    text = " x " + "d" * (MAX_DESCRIPTION_LENGTH - 3)
    assert rules.description(text, "description") == text
    assert rules.description(None, "description") is None
    rules.raise_if_any()


def test_a_description_over_its_limit_is_refused_naming_the_field():
    assert refused(lambda r: r.description("d" * (MAX_DESCRIPTION_LENGTH + 1), "uploads[2].description")) == [
        ("uploads[2].description", Problem.INVALID, f"may be at most {MAX_DESCRIPTION_LENGTH} characters long")]


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udfffy"])
def test_text_no_database_stores_as_it_is_is_refused(text):
    assert not is_storable(text)
    assert [p for _, p, _ in refused(lambda r: r.description(text, "description"))] == [Problem.INVALID]


def test_a_name_is_kept_without_surrounding_space_and_a_required_one_is_not_empty():
    rules = TextRules()
    assert rules.name("  Villa Kivi ", "name", required=True) == "Villa Kivi"
    assert rules.name("   ", "external_id") is None
    rules.raise_if_any()
    assert refused(lambda r: r.name("  ", "name", required=True)) == [("name", Problem.INVALID, "must not be empty")]
    assert refused(lambda r: r.name(None, "name", required=True)) == [("name", Problem.MISSING, "is required")]


def test_a_name_is_at_most_255_characters():
    assert TextRules().name("n" * MAX_NAME_LENGTH, "name") == "n" * MAX_NAME_LENGTH
    assert refused(lambda r: r.name("n" * (MAX_NAME_LENGTH + 1), "name"))[0][1] is Problem.INVALID


def test_every_problem_of_a_request_is_reported_at_once():
    def check(rules):
        rules.description("d" * 5000, "uploads[0].description")
        rules.original_file_name("f" * 300, "uploads[1].original_file_name")
        rules.storable("k\x00", "uploads[2].key")

    assert [t for t, _, _ in refused(check)] == ["uploads[0].description", "uploads[1].original_file_name",
                                                 "uploads[2].key"]


def test_a_stated_file_name_is_kept_as_a_plain_name():
    assert TextRules().original_file_name("C:\\photos\\Front door.JPG", "f") == "Front door.JPG"
    assert clean_file_name("../../etc/x\n.jpg") == "x.jpg"
    assert clean_file_name("photos/") is None
    assert clean_file_name("k" * 300) == "k" * MAX_NAME_LENGTH


@pytest.mark.parametrize("text", [str(U), str(U).upper()])
def test_a_uuid_is_read_in_its_text_form_in_either_case(text):
    assert parse_uuid(text) == U


@pytest.mark.parametrize("text", [U.hex, "{" + str(U) + "}", U.urn, f" {U}", f"{U}\n", str(U)[:-1], "", None, 42,
                                  "ddc25849-7bc7-43c0-9c3b-602cb03f780g"])
def test_no_other_spelling_of_a_uuid_is_read(text):
    assert parse_uuid(text) is None
