"""Finding one number in text and JSON, in every way people write it, and nothing else."""

from __future__ import annotations

import json

import pytest

from infotrack.audit.phone_scrub import PhoneScrubber, like_fragments
from infotrack.kit.phone import parse_phone

MOBILE = PhoneScrubber([parse_phone("13800138000")])
LANDLINE = PhoneScrubber([parse_phone("010-12345678")])


@pytest.mark.parametrize(
    "written",
    [
        "13800138000",
        "+8613800138000",
        "8613800138000",
        "008613800138000",
        "+86 138-0013-8000",
        "(+86) 138 0013 8000",
        "0086-138-0013-8000",
        "138 0013 8000",
        "138.0013.8000",
        "１３８００１３８０００",  # full-width, as a Chinese IME types it
        "＋８６ １３８－００１３－８０００",
    ],
)
def test_every_spelling_of_the_mobile_is_replaced(written: str) -> None:
    assert MOBILE.text(f"致电{written}确认", "[X]") == "致电[X]确认"
    assert MOBILE.text(f"致电 {written} 确认", "[X]") == "致电 [X] 确认"


@pytest.mark.parametrize(
    "written",
    ["010-12345678", "(010) 1234 5678", "+86 10 1234 5678", "861012345678", "0086 10 12345678"],
)
def test_a_landline_with_its_area_code_is_replaced(written: str) -> None:
    assert LANDLINE.text(f"座机 {written}", "[X]") == "座机 [X]"


@pytest.mark.parametrize(
    "kept",
    [
        "订单 2013800138000",  # the digits inside a longer number are not the phone
        "13800138001",
        "13900139000",
        "138****8000",  # already masked
        "1380013800",
    ],
)
def test_other_numbers_are_left_alone(kept: str) -> None:
    assert MOBILE.text(kept, "[X]") == kept
    assert not MOBILE.found_in(kept)


def test_parentheses_around_the_number_stay_balanced() -> None:
    assert MOBILE.text("客户(13800138000)", "[X]") == "客户([X])"
    assert MOBILE.text("客户（138 0013 8000）", "[X]") == "客户（[X]）"
    assert LANDLINE.text("座机 (010) 1234 5678。", "[X]") == "座机 [X]。"


def test_two_numbers_side_by_side_lose_only_the_one_asked_for() -> None:
    assert MOBILE.text("13800138000 13900139000", "[X]") == "[X] 13900139000"


def test_json_stays_json_with_strings_keys_and_numbers_replaced() -> None:
    document = json.dumps(
        [{"field": "phone", "old": 8613800138000, "new": "138 0013 8000"}, {"13800138000": 1.5}],
        ensure_ascii=False,
    )
    assert json.loads(MOBILE.json_text(document, "[X]") or "") == [
        {"field": "phone", "old": "[X]", "new": "[X]"},
        {"[X]": 1.5},
    ]


def test_json_without_the_number_is_returned_byte_for_byte() -> None:
    document = '[{"field":"level","old":"B","new":13900139000}]'  # compact, unlike ours
    assert MOBILE.json_text(document, "[X]") is document


def test_text_that_is_not_json_is_scrubbed_as_text() -> None:
    assert MOBILE.json_text("旧号码 13800138000", "[X]") == "旧号码 [X]"


def test_the_like_prefilter_covers_half_and_full_width_digits() -> None:
    assert like_fragments(parse_phone("+86 138-0013-8000")) == ("8000", "８０００")
