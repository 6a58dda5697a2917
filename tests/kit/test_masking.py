"""Masking phone numbers inside free text: ``138****8000``, and nothing else touched."""

from __future__ import annotations

import pytest

from infotrack.kit.masking import mask_phones, mask_value


@pytest.mark.parametrize(
    "text",
    [
        "13800138000",
        "+8613800138000",
        "8613800138000",
        "008613800138000",
        "+86 138-0013-8000",
        "86 138 0013 8000",
        "0086-138-0013-8000",
        "138 0013 8000",
        "138-0013-8000",
    ],
)
def test_a_mainland_mobile_in_any_spelling_is_masked_alike(text: str) -> None:
    assert mask_phones(text) == "138****8000"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("致电13800138000确认需求", "致电138****8000确认需求"),
        ("电话:13800138000,13900139000", "电话:138****8000,139****9000"),
        ("+8613800138000 and +86 139 0013 9000", "138****8000 and 139****9000"),
        ("(+86) 138 0013 8000", "(+86) 138****8000"),
        ("客户说+86 138 0013 8000。", "客户说138****8000。"),
        # landlines with an area code
        ("010-12345678", "010****5678"),
        ("010 6554 3210", "010****3210"),
        ("0755-88881234", "075*****1234"),
        ("(0755) 8888 1234", "075*****1234"),
        ("021-6888 1234 转 801", "021****1234 转 801"),
        # service numbers
        ("400-820-8820", "400***8820"),
        ("4008208820", "400***8820"),
        ("热线 800 820 8820", "热线 800***8820"),
        # foreign numbers, written with +
        ("+1 415 555 2671", "141****2671"),
        ("+44 20 7946 0958", "442*****0958"),
        ("+852 2123 4567", "852****4567"),
        ("+81-3-1234-5678", "813****5678"),
    ],
)
def test_numbers_inside_text_are_masked(text: str, masked: str) -> None:
    assert mask_phones(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27",
        "2026-11-27 09:30:00",
        "2026年11月27日 下午3点",
        "¥1999.00",
        "报价1999元/件,共120件",
        "价格 12,800 元",
        "订单号 20261127093000",
        "时间戳 1732681234567",  # a 13-digit run holds 11 digits that look like a mobile
        "13800138000123",
        "身份证 110101199003074518",
        "12345678901",  # 12… is no mobile range
        "1380013800",  # one digit short
        "编号 010-1234",
        "IP 192.168.1.100",
        "138****8000",  # already masked
        "查看客户详情",
    ],
)
def test_dates_prices_and_other_digits_stay_readable(text: str) -> None:
    assert mask_phones(text) == text


def test_empty_and_missing_text() -> None:
    assert mask_phones(None) is None
    assert mask_phones("") == ""


def test_masking_is_idempotent() -> None:
    once = mask_phones("致电 +86 138-0013-8000 或 010-12345678")
    assert once == "致电 138****8000 或 010****5678"
    assert mask_phones(once) == once


def test_mask_value_walks_json_like_values() -> None:
    value = {
        "changes": [
            {"field": "phone", "old": 13800138000, "new": "+86 139 0013 9000"},
            {"field": "level", "old": "B", "new": "A"},
            {"field": "vip", "old": False, "new": True},
            {"field": "amount", "old": 12.5, "new": 123456},
        ],
        "hotline": "4008208820",
        "none": None,
    }
    assert mask_value(value) == {
        "changes": [
            {"field": "phone", "old": "138****8000", "new": "139****9000"},
            {"field": "level", "old": "B", "new": "A"},
            {"field": "vip", "old": False, "new": True},
            {"field": "amount", "old": 12.5, "new": 123456},  # small numbers are not phones
        ],
        "hotline": "400***8820",
        "none": None,
    }
    # a large number that is no phone stays a number (readers with and without masking agree)
    assert mask_value(20261127) == 20261127
    assert mask_value(1_500_000) == 1_500_000
