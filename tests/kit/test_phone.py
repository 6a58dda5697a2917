"""Phone numbers: one normal form for whatever a CRM user types, and the stored forms we match."""

from __future__ import annotations

import pytest

from infotrack.errors import InvalidPhoneNumber
from infotrack.kit.phone import canonical_or_none, mask_digits, parse_phone

# -- one number, many spellings -------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "+86 139-0013-9000",
        "+8613900139000",
        "8613900139000",
        "13900139000",
        "0086 139 0013 9000",
        "008613900139000",
        "139 0013 9000",
        "139-0013-9000",
        "(+86) 139 0013 9000",
        "  13900139000\t",
    ],
)
def test_spellings_of_one_mobile_are_one_number(typed: str) -> None:
    phone = parse_phone(typed)
    assert phone.e164 == "+8613900139000"
    assert phone.national == "13900139000"
    assert phone.country_code == 86
    assert phone.is_mobile


def test_stored_forms_of_a_mainland_mobile() -> None:
    forms = parse_phone("+86 139-0013-9000").stored_forms
    assert set(forms) >= {"13900139000", "+8613900139000", "8613900139000"}
    assert forms[0] == "13900139000"  # the most common spelling first
    assert len(forms) == len(set(forms))


def test_masked_hides_the_middle() -> None:
    assert parse_phone("+86 139-0013-9000").masked() == "139****9000"


# -- every current mainland mobile range ------------------------------------------------------

MOBILE_PREFIXES = [
    # 13x / 15x / 18x: the classic ranges
    *[f"13{d}" for d in "0123456789"],
    *[f"15{d}" for d in "012356789"],
    *[f"18{d}" for d in "0123456789"],
    # 14x: data cards issued as phone numbers
    "145",
    "147",
    # 16x
    "162",
    "165",
    "166",
    "167",
    # 17x (174 is satellite, tested apart)
    "170",
    "171",
    "172",
    "173",
    "175",
    "176",
    "177",
    "178",
    # 19x: 2017 onwards, 192 is China Broadnet (广电)
    "190",
    "191",
    "192",
    "193",
    "195",
    "196",
    "197",
    "198",
    "199",
]


@pytest.mark.parametrize("prefix", MOBILE_PREFIXES)
def test_every_current_mobile_range_is_valid(prefix: str) -> None:
    number = f"{prefix}12345678"
    phone = parse_phone(number)
    assert phone.e164 == f"+86{number}"
    assert phone.national == number
    assert phone.is_mobile
    assert set(phone.stored_forms) >= {number, f"+86{number}", f"86{number}"}
    assert phone.masked() == f"{prefix}****5678"


@pytest.mark.parametrize("typed", ["+86 199 1234 5678", "8619912345678", "0086-199-1234-5678"])
def test_19x_in_international_spellings(typed: str) -> None:
    assert parse_phone(typed).national == "19912345678"


# -- landlines, service numbers, foreign numbers ----------------------------------------------


@pytest.mark.parametrize(
    ("typed", "e164", "national"),
    [
        ("010-12345678", "+861012345678", "01012345678"),  # Beijing, 2-digit area code
        ("01012345678", "+861012345678", "01012345678"),
        ("(010) 1234 5678", "+861012345678", "01012345678"),
        ("+86 10 1234 5678", "+861012345678", "01012345678"),
        ("021-61234567", "+862161234567", "02161234567"),  # Shanghai
        ("0755-88889999", "+8675588889999", "075588889999"),  # Shenzhen, 3-digit area code
        ("0571-87654321", "+8657187654321", "057187654321"),  # Hangzhou
    ],
)
def test_landlines_with_area_code(typed: str, e164: str, national: str) -> None:
    phone = parse_phone(typed)
    assert (phone.e164, phone.national) == (e164, national)
    assert not phone.is_mobile
    # A CRM may keep the national spelling or any international one.
    assert set(phone.stored_forms) >= {national, e164, e164[1:]}


@pytest.mark.parametrize(
    ("typed", "national"),
    [
        ("4008001234", "4008001234"),
        ("400-800-1234", "4008001234"),
        ("400 820 8820", "4008208820"),
        ("8008301234", "8008301234"),
        ("800-830-1234", "8008301234"),
    ],
)
def test_400_and_800_service_numbers(typed: str, national: str) -> None:
    phone = parse_phone(typed)
    assert phone.national == national
    assert phone.e164 == f"+86{national}"
    assert phone.national in phone.stored_forms


@pytest.mark.parametrize(
    ("typed", "e164", "country_code"),
    [
        ("+1 650-253-0000", "+16502530000", 1),
        ("+44 20 7946 0958", "+442079460958", 44),
        ("+852 2123 4567", "+85221234567", 852),  # Hong Kong is "foreign" to +86
        ("+886 2 2345 6789", "+886223456789", 886),
        ("+81 3-1234-5678", "+81312345678", 81),
        ("0044 20 7946 0958", "+442079460958", 44),
    ],
)
def test_foreign_numbers_with_plus(typed: str, e164: str, country_code: int) -> None:
    phone = parse_phone(typed)
    assert phone.e164 == e164
    assert phone.country_code == country_code
    forms = phone.stored_forms
    assert e164 in forms
    assert e164[1:] in forms
    # Never the bare national digits: they could be somebody else's mainland number.
    assert phone.national not in forms


# -- what is not a phone number ---------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "hello",
        "客户电话",
        "n/a",
        "12345",
        "13800",
        "1390013900",  # one digit short
        "139001390001",  # one digit too many
        "23900139000",  # no mobile range starts with 2
        "17412345678",  # 174: satellite, not a mobile number
        "+86 123",
        "+999 12345678",  # no such country code
        "+",
        "0000000",
        "1" * 41,  # longer than any number with separators
        "139 0013 9000 " + "x" * 40,
    ],
)
def test_invalid_input_raises(typed: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        parse_phone(typed)
    assert info.value.status == 400
    assert info.value.code == "invalid_phone_number"


@pytest.mark.parametrize("typed", [None, "", "hello", "12345"])
def test_canonical_or_none_for_non_numbers(typed: str | None) -> None:
    assert canonical_or_none(typed) is None


def test_canonical_or_none_for_a_number() -> None:
    phone = canonical_or_none("8613900139000")
    assert phone is not None
    assert phone.national == "13900139000"


def test_other_default_region() -> None:
    # A deployment outside the mainland can pick its own default region.
    phone = parse_phone("2123 4567", default_region="HK")
    assert phone.e164 == "+85221234567"


@pytest.mark.parametrize(
    ("digits", "masked"),
    [
        ("13900139000", "139****9000"),
        ("075588889999", "075*****9999"),
        ("4008001234", "400***1234"),
        ("1234567", "1*****7"),
        ("123", "1*3"),
        ("12", "12"),
        ("", ""),
    ],
)
def test_mask_digits(digits: str, masked: str) -> None:
    assert mask_digits(digits) == masked
