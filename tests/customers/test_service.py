"""CustomerResolver on real databases: lookup order, stored forms, ambiguity, cache, names."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from infotrack.app import create_app
from infotrack.config import Settings
from infotrack.customers.service import CustomerRef, CustomerResolver
from infotrack.db import Sources
from infotrack.kit.cache import MISSING
from infotrack.kit.phone import parse_phone
from infotrack.maintenance.schema import initialise
from tests.conftest import add_contact, add_user, bearer, create_account, make_settings

PHONE = parse_phone("13900139000")
SERVICE_LOGGER = "infotrack.customers.service"


def resolver_with(
    sources: Sources, db_urls: dict[str, str], tmp_path: Path, **overrides: Any
) -> CustomerResolver:
    """A resolver over the test databases with some settings changed."""
    return CustomerResolver(sources, make_settings(db_urls, tmp_path, **overrides))


def delete_user(sources: Sources, user_id: str) -> None:
    with sources.wechat.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE userId = :i"), {"i": user_id})


# -- lookup order -----------------------------------------------------------------------------


def test_wechat_users_are_asked_first(sources: Sources, settings: Settings) -> None:
    add_contact(sources, "13900139000", "李雷", contact_id=1)
    add_user(sources, "u-42", "13900139000", "王小明")
    found = CustomerResolver(sources, settings).resolve(PHONE)
    assert found == CustomerRef(source="wechat", id="u-42", matches=1)


def test_primary_contacts_when_wechat_has_none(sources: Sources, settings: Settings) -> None:
    add_user(sources, "u-1", "13800138000")
    cid = add_contact(sources, "13900139000", "李雷")
    found = CustomerResolver(sources, settings).resolve(PHONE)
    assert found == CustomerRef(source="primary", id=cid, matches=1)


def test_unknown_number(sources: Sources, settings: Settings) -> None:
    add_user(sources, "u-1", "13800138000")
    add_contact(sources, "13700137000")
    assert CustomerResolver(sources, settings).resolve(PHONE) is None


def test_ids_are_strings_whatever_the_column_type(sources: Sources, settings: Settings) -> None:
    add_contact(sources, "13900139000", contact_id=12345)
    found = CustomerResolver(sources, settings).resolve(PHONE)
    assert found is not None
    assert found.id == "12345"


# -- stored forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("stored", ["13900139000", "+8613900139000", "8613900139000"])
@pytest.mark.parametrize("typed", ["+86 139-0013-9000", "8613900139000", "0086 139 0013 9000"])
def test_stored_forms_are_matched_in_users(
    sources: Sources, settings: Settings, stored: str, typed: str
) -> None:
    add_user(sources, "u-7", stored)
    found = CustomerResolver(sources, settings).resolve(parse_phone(typed))
    assert found is not None
    assert (found.source, found.id) == ("wechat", "u-7")


@pytest.mark.parametrize("stored", ["13900139000", "+8613900139000", "8613900139000"])
def test_stored_forms_are_matched_in_contacts(
    sources: Sources, settings: Settings, stored: str
) -> None:
    cid = add_contact(sources, stored)
    found = CustomerResolver(sources, settings).resolve(parse_phone("139 0013 9000"))
    assert found is not None
    assert (found.source, found.id) == ("primary", cid)


def test_landline_stored_in_national_form(sources: Sources, settings: Settings) -> None:
    add_user(sources, "u-bj", "01012345678")
    found = CustomerResolver(sources, settings).resolve(parse_phone("+86 10 1234 5678"))
    assert found is not None
    assert found.id == "u-bj"


def test_a_different_number_is_not_matched(sources: Sources, settings: Settings) -> None:
    add_user(sources, "u-1", "13900139001")
    add_user(sources, "u-2", "139001390")
    assert CustomerResolver(sources, settings).resolve(PHONE) is None


# -- ambiguity --------------------------------------------------------------------------------


def test_ambiguous_users_pick_the_lowest_id_and_warn(
    sources: Sources, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    add_user(sources, "u-b", "13900139000")
    add_user(sources, "u-a", "+8613900139000")
    add_user(sources, "u-c", "8613900139000")
    with caplog.at_level(logging.WARNING, logger=SERVICE_LOGGER):
        found = CustomerResolver(sources, settings).resolve(PHONE)
    assert found == CustomerRef(source="wechat", id="u-a", matches=3)
    warnings = [r for r in caplog.records if r.name == SERVICE_LOGGER]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert warnings[0].levelno == logging.WARNING
    assert "u-a" in message
    assert "u-b" in message
    assert "139****9000" in message
    assert "13900139000" not in message  # the log does not spill the full number


def test_ambiguous_contacts_pick_the_lowest_id(
    sources: Sources, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    add_contact(sources, "13900139000", contact_id=70)
    add_contact(sources, "+8613900139000", contact_id=9)
    with caplog.at_level(logging.WARNING, logger=SERVICE_LOGGER):
        found = CustomerResolver(sources, settings).resolve(PHONE)
    assert found == CustomerRef(source="primary", id="9", matches=2)
    assert any("primary" in r.getMessage() for r in caplog.records if r.name == SERVICE_LOGGER)


def test_pick_is_deterministic(sources: Sources, settings: Settings) -> None:
    add_user(sources, "u-2", "13900139000")
    add_user(sources, "u-1", "13900139000")
    picks = {CustomerResolver(sources, settings).lookup(PHONE) for _ in range(5)}
    assert len(picks) == 1


def test_many_duplicates_are_counted_exactly(
    sources: Sources, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(7):
        add_user(sources, f"u-{i}", "13900139000")
    with caplog.at_level(logging.WARNING, logger=SERVICE_LOGGER):
        found = CustomerResolver(sources, settings).resolve(PHONE)
    assert found is not None
    assert found.id == "u-0"
    assert found.matches == 7
    assert any("matches 7 customers" in r.getMessage() for r in caplog.records)


def test_a_unique_number_logs_nothing(
    sources: Sources, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    add_user(sources, "u-1", "13900139000")
    with caplog.at_level(logging.WARNING, logger=SERVICE_LOGGER):
        CustomerResolver(sources, settings).resolve(PHONE)
    assert [r for r in caplog.records if r.name == SERVICE_LOGGER] == []


# -- cache ------------------------------------------------------------------------------------


def test_a_hit_is_answered_from_cache_until_forgotten(sources: Sources, settings: Settings) -> None:
    add_user(sources, "u-1", "13900139000")
    resolver = CustomerResolver(sources, settings)
    assert resolver.cached(PHONE) is MISSING
    first = resolver.resolve(PHONE)
    assert first is not None
    assert resolver.cached(PHONE) == first

    delete_user(sources, "u-1")
    # Other spellings of the number share the cache entry.
    assert resolver.resolve(parse_phone("+86 139 0013 9000")) == first
    assert resolver.lookup(PHONE) is None  # the database says otherwise

    resolver.forget(PHONE)
    assert resolver.cached(PHONE) is MISSING
    assert resolver.resolve(PHONE) is None


def test_hit_cache_disabled(sources: Sources, db_urls: dict[str, str], tmp_path: Path) -> None:
    add_user(sources, "u-1", "13900139000")
    resolver = resolver_with(sources, db_urls, tmp_path, customer_cache_ttl=0)
    assert resolver.resolve(PHONE) is not None
    delete_user(sources, "u-1")
    assert resolver.resolve(PHONE) is None


def test_unknown_number_is_cached_for_the_miss_ttl(
    sources: Sources, db_urls: dict[str, str], tmp_path: Path
) -> None:
    resolver = resolver_with(sources, db_urls, tmp_path, customer_miss_cache_ttl=60)
    assert resolver.resolve(PHONE) is None
    assert resolver.cached(PHONE) is None  # a known unknown, not MISSING
    add_user(sources, "u-new", "13900139000")
    assert resolver.resolve(PHONE) is None  # still the cached miss
    resolver.forget(PHONE)
    found = resolver.resolve(PHONE)
    assert found is not None
    assert found.id == "u-new"


def test_unknown_number_expires_after_the_miss_ttl(
    sources: Sources, db_urls: dict[str, str], tmp_path: Path
) -> None:
    import time

    resolver = resolver_with(sources, db_urls, tmp_path, customer_miss_cache_ttl=0.1)
    assert resolver.resolve(PHONE) is None
    add_user(sources, "u-new", "13900139000")
    time.sleep(0.2)
    found = resolver.resolve(PHONE)
    assert found is not None
    assert found.id == "u-new"


def test_miss_ttl_zero_finds_a_customer_added_afterwards_at_once(
    sources: Sources, db_urls: dict[str, str], tmp_path: Path
) -> None:
    resolver = resolver_with(sources, db_urls, tmp_path, customer_miss_cache_ttl=0)
    assert resolver.resolve(PHONE) is None
    assert resolver.cached(PHONE) is MISSING
    cid = add_contact(sources, "+8613900139000")
    assert resolver.resolve(PHONE) == CustomerRef(source="primary", id=cid, matches=1)


def test_misses_do_not_hide_hits_of_other_numbers(sources: Sources, settings: Settings) -> None:
    add_user(sources, "u-1", "13800138000")
    resolver = CustomerResolver(sources, settings)
    assert resolver.resolve(PHONE) is None
    found = resolver.resolve(parse_phone("13800138000"))
    assert found is not None
    assert found.id == "u-1"


# -- configurable table and column names --------------------------------------------------------

CRM_NAMES = {
    "users_table": "crm_customer",
    "users_id_column": "cid",
    "users_phone_column": "mobile",
    "users_name_column": "cname",
    "contacts_table": "crm_contact",
    "contacts_id_column": "contact_no",
    "contacts_phone_column": "tel",
    "contacts_name_column": "fullname",
}


@pytest.fixture
def crm_settings(db_urls: dict[str, str], tmp_path: Path) -> Settings:
    return make_settings(db_urls, tmp_path, **CRM_NAMES)


@pytest.fixture
def crm_sources(crm_settings: Settings) -> Iterator[Sources]:
    """Databases where the CRM's customer tables have their own names, then ``init``."""
    srcs = Sources.from_settings(crm_settings)
    with srcs.wechat.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE crm_customer (cid INTEGER PRIMARY KEY, mobile VARCHAR(32),"
                " cname VARCHAR(50))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO crm_customer (cid, mobile, cname) VALUES (5, '+8613900139000', '赵敏')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO crm_customer (cid, mobile, cname) VALUES (3, '13900139000', '周芷若')"
            )
        )
    with srcs.primary.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE crm_contact (contact_no VARCHAR(20) PRIMARY KEY, tel VARCHAR(32),"
                " fullname VARCHAR(50))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO crm_contact (contact_no, tel, fullname)"
                " VALUES ('C-9', '8613700137000', '张无忌')"
            )
        )
    initialise(srcs, crm_settings)
    yield srcs
    srcs.dispose()


def test_configured_names_are_used(crm_sources: Sources, crm_settings: Settings) -> None:
    resolver = CustomerResolver(crm_sources, crm_settings)
    assert resolver.resolve(PHONE) == CustomerRef(source="wechat", id="3", matches=2)
    assert resolver.resolve(parse_phone("+86 137 0013 7000")) == CustomerRef(
        source="primary", id="C-9", matches=1
    )
    assert resolver.resolve(parse_phone("13600136000")) is None


def test_init_leaves_the_crm_tables_alone(crm_sources: Sources) -> None:
    # Our init found the CRM's tables under their configured names: no default tables made.
    assert not inspect(crm_sources.wechat).has_table("users")
    assert not inspect(crm_sources.primary).has_table("contacts")
    with crm_sources.wechat.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM crm_customer")).scalar_one() == 2


def test_configured_names_end_to_end(crm_sources: Sources, crm_settings: Settings) -> None:
    create_account(crm_sources, crm_settings)
    with TestClient(create_app(crm_settings)) as client:
        headers = bearer(client)
        for phone, expected in [
            ("139 0013 9000", {"userId": "3", "source": "wechat"}),
            ("8613700137000", {"userId": "C-9", "source": "primary"}),
        ]:
            response = client.post(
                "/api/information-tracking/record",
                json={"phoneNumber": phone, "operationEvent": "查看客户详情"},
                headers=headers,
            )
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            assert {"userId": data["userId"], "source": data["source"]} == expected
        unknown = client.post(
            "/api/information-tracking/record",
            json={"phoneNumber": "13600136000", "operationEvent": "查看客户详情"},
            headers=headers,
        )
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "customer_not_found"
    with crm_sources.wechat.connect() as conn:
        rows = conn.execute(
            text("SELECT userId, customer_source FROM informationtra ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [("3", "wechat"), ("C-9", "primary")]
