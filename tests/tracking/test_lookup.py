"""Finding the customer: phone forms, number kinds, lookup order, colliding ids, duplicates."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from infotrack.db import Sources
from tests.conftest import add_contact, add_user, count_records
from tests.tracking.conftest import (
    MISSING_MESSAGE,
    NOT_FOUND_MESSAGE,
    RECORD,
    assert_error,
    fetch_rows,
)

# How a CRM page may send a number, and how a CRM table may hold it.
INPUT_FORMS = ["+86 {a}-{b}-{c}", "86{a}{b}{c}", "{a}{b}{c}", "0086 {a} {b} {c}"]
STORED_FORMS = ["{a}{b}{c}", "+86{a}{b}{c}", "86{a}{b}{c}"]


def _numbers() -> list[dict[str, str]]:
    """Three mobiles, one per stored form: 138-0013-8000, 138-0013-8001, 138-0013-8002."""
    return [{"a": "138", "b": "0013", "c": f"800{n}"} for n in range(len(STORED_FORMS))]


def _record(client: TestClient, headers: dict[str, str], phone: object) -> dict[str, object]:
    response = client.post(
        RECORD, json={"phoneNumber": phone, "operationEvent": "查看客户详情"}, headers=headers
    )
    assert response.status_code == 200, f"{phone!r}: {response.text}"
    data: dict[str, object] = response.json()["data"]
    return data


def test_every_input_form_finds_a_user_stored_in_any_form(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    for n, (number, stored) in enumerate(zip(_numbers(), STORED_FORMS, strict=True)):
        add_user(sources, f"u-{n}", stored.format(**number))

    for n, number in enumerate(_numbers()):
        for form in INPUT_FORMS:
            data = _record(client, headers, form.format(**number))
            assert (data["userId"], data["source"]) == (f"u-{n}", "wechat"), (form, number)

    assert count_records(sources) == len(STORED_FORMS) * len(INPUT_FORMS)


def test_every_input_form_finds_a_contact_stored_in_any_form(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    contact_ids = [
        add_contact(sources, stored.format(**number))
        for number, stored in zip(_numbers(), STORED_FORMS, strict=True)
    ]

    for contact_id, number in zip(contact_ids, _numbers(), strict=True):
        for form in INPUT_FORMS:
            data = _record(client, headers, form.format(**number))
            assert (data["userId"], data["source"]) == (contact_id, "primary"), (form, number)

    assert count_records(sources) == len(STORED_FORMS) * len(INPUT_FORMS)


def test_a_phone_number_sent_as_a_json_number_is_accepted(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")

    assert _record(client, headers, 13800138000)["userId"] == "u1"


# (as typed, as stored): landlines with area code, 400/800, 19x and other mobiles, foreign.
VALID_KINDS = [
    ("010-12345678", "01012345678"),
    ("0755-86013388", "075586013388"),
    ("400-123-4567", "4001234567"),
    ("800-820-8820", "8008208820"),
    ("19912345678", "19912345678"),
    ("19012345678", "+8619012345678"),
    ("16612345678", "16612345678"),
    ("+1 415 555 2671", "+14155552671"),
]


def test_valid_number_kinds_find_their_customer(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    contact_ids = [add_contact(sources, stored) for _, stored in VALID_KINDS]

    for (phone, _), contact_id in zip(VALID_KINDS, contact_ids, strict=True):
        data = _record(client, headers, phone)
        assert (data["userId"], data["source"]) == (contact_id, "primary"), phone

    assert count_records(sources) == len(VALID_KINDS)


def test_valid_number_kinds_without_a_customer_answer_404(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u1", "13800138000")  # somebody else

    for phone, _ in VALID_KINDS:
        response = client.post(
            RECORD, json={"phoneNumber": phone, "operationEvent": "查看客户详情"}, headers=headers
        )
        # A valid number that nobody has: not found, not a bad request.
        body = assert_error(response, 404, "customer_not_found", phone)
        assert body["message"] == NOT_FOUND_MESSAGE

    assert count_records(sources) == 0


def test_text_that_is_no_phone_number_is_refused(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    phones = [
        "hello",
        "123",
        "1380013800",  # ten digits
        "138001380001234",  # fifteen
        "+86",
        "1" * 41,  # longer than any number with separators
    ]
    for n, phone in enumerate(phones):
        # Even a customer stored with that very text is no reason to accept it.
        add_user(sources, f"u{n}", phone[:32])

    for phone in phones:
        response = client.post(
            RECORD, json={"phoneNumber": phone, "operationEvent": "查看客户详情"}, headers=headers
        )
        assert_error(response, 400, "invalid_phone_number", phone)

    assert count_records(sources) == 0


def test_an_empty_phone_number_is_refused(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    for phone in ["", "   "]:
        response = client.post(
            RECORD, json={"phoneNumber": phone, "operationEvent": "查看客户详情"}, headers=headers
        )
        body = assert_error(response, 400, "missing_field", phone)
        assert body["message"] == MISSING_MESSAGE

    assert count_records(sources) == 0


def test_a_number_in_both_sources_resolves_to_wechat(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_contact(sources, "13800138000", "联系人")
    add_user(sources, "u-wx", "+8613800138000", "微信用户")

    data = _record(client, headers, "13800138000")

    assert (data["userId"], data["source"]) == ("u-wx", "wechat")
    assert fetch_rows(sources)[0]["customer_source"] == "wechat"


def test_a_number_only_in_contacts_resolves_to_primary(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "u-other", "13900139000")
    contact_id = add_contact(sources, "8613800138000")

    data = _record(client, headers, "13800138000")

    assert (data["userId"], data["source"]) == (contact_id, "primary")


def test_colliding_ids_stay_distinct_through_their_source(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_user(sources, "1001", "13800138000", "微信客户")
    add_contact(sources, "13900139000", "通讯录客户", contact_id=1001)

    from_users = _record(client, headers, "13800138000")
    from_contacts = _record(client, headers, "13900139000")

    assert (from_users["userId"], from_users["source"]) == ("1001", "wechat")
    assert (from_contacts["userId"], from_contacts["source"]) == ("1001", "primary")
    rows = fetch_rows(sources)
    assert [(row["userId"], row["customer_source"]) for row in rows] == [
        ("1001", "wechat"),
        ("1001", "primary"),
    ]


def test_several_users_with_one_number_pick_the_lowest_id_and_warn(
    client: TestClient,
    sources: Sources,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_user(sources, "u-30", "13800138000")
    add_user(sources, "u-10", "+8613800138000")
    add_user(sources, "u-20", "8613800138000")
    add_contact(sources, "13800138000")  # wechat wins before contacts are asked

    with caplog.at_level(logging.WARNING, logger="infotrack.customers.service"):
        data = _record(client, headers, "138 0013 8000")

    assert (data["userId"], data["source"]) == ("u-10", "wechat")
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("infotrack")
    ]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "3 customers" in message
    assert "u-10" in message
    assert "u-20" in message
    assert "u-30" in message
    assert "13800138000" not in message  # the number is masked in logs
    assert "138****8000" in message


def test_the_pick_among_duplicates_does_not_depend_on_insertion_order(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    orders = [("b", "c", "a", "d"), ("d", "a", "c", "b"), ("a", "b", "c", "d")]
    for n, order in enumerate(orders):
        for user_id in order:
            add_user(sources, f"{user_id}{n}", f"1380013800{n}")

    for n in range(len(orders)):
        assert _record(client, headers, f"1380013800{n}")["userId"] == f"a{n}"


def test_several_contacts_with_one_number_pick_the_lowest_id(
    client: TestClient, sources: Sources, headers: dict[str, str]
) -> None:
    add_contact(sources, "13800138000", contact_id=905)
    add_contact(sources, "+8613800138000", contact_id=87)
    add_contact(sources, "8613800138000", contact_id=1200)

    data = _record(client, headers, "13800138000")

    # Numeric order for a numeric key (87 < 905 < 1200), not text order.
    assert (data["userId"], data["source"]) == ("87", "primary")
