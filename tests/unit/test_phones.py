"""Phone normalisation: the formats of the seeds' documents and hostile input."""

from __future__ import annotations

import pytest

from pbx_daemon.crm.phones import (
    InvalidPhoneNumber,
    format_display,
    is_e164,
    normalize,
    normalize_caller_id,
)


@pytest.mark.parametrize("raw,e164,ext", [
    ("8 916 123-45-67", "+79161234567", None),
    ("8(916)1234567", "+79161234567", None),
    ("+7 (916) 123-45-67", "+79161234567", None),
    ("79161234567", "+79161234567", None),
    ("9161234567", "+79161234567", None),
    ("495 123-45-67", "+74951234567", None),
    ("+7 495 123 45 67", "+74951234567", None),
    ("8-800-555-35-35", "+78005553535", None),
    ("+44 20 7946 0958", "+442079460958", None),
    ("+1 (212) 555-0100", "+12125550100", None),
    ("00 44 20 7946 0958", "+442079460958", None),
    ("+7 495 123-45-67 доб. 123", "+74951234567", "123"),
    ("+7 495 123-45-67 доб.12", "+74951234567", "12"),
    ("8 495 1234567, доб. 12", "+74951234567", "12"),
    ("+7 495 123-45-67 ДОБ 7", "+74951234567", "7"),
    ("+7 495 123-45-67 вн. 123", "+74951234567", "123"),
    ("+7 495 123-45-67 внутр. 55", "+74951234567", "55"),
    ("+7 495 123-45-67 д.123", "+74951234567", "123"),
    ("+7 495 123-45-67 ext. 45", "+74951234567", "45"),
    ("+7 495 123-45-67 x45", "+74951234567", "45"),
    ("+7 495 123-45-67 #45", "+74951234567", "45"),
    ("+7 916 １２３-４５-６７", "+79161234567", None),  # full-width digits (NFKC)
])
def test_formats_from_the_seeds_normalise_to_e164(raw, e164, ext):
    assert normalize(raw) == (type(normalize("+79161234567"))(e164, ext))


def test_seven_digit_local_numbers_need_an_area_code():
    with pytest.raises(InvalidPhoneNumber, match="area code"):
        normalize("123-45-67")
    assert normalize("123-45-67", default_area_code="495").e164 == "+74951234567"


@pytest.mark.parametrize("raw,why", [
    ("", "empty"),
    ("   ", "empty"),
    ("abc", "letters"),
    ("+7 916 ABC", "letters"),
    ("123", "too short"),
    ("+7 916 123 45 67 89 01 23", "too long"),
    ("+7 000 000 00 00", "not a valid number"),
    ("+79161234567&PJSIP/999", "not allowed"),
    ("+79161234567,30", "not allowed"),
    ("+79161234567|x", "not allowed"),
    ("+79161234567;x", "not allowed"),
    ('"+79161234567"', "not allowed"),
    ("'+79161234567'", "not allowed"),
    ("${EXTEN}", "not allowed"),
    ("+7916\n1234567", "control"),
    ("+7916\x001234567", "control"),
    ("9" * 10_000, "too long"),
    ("+7 916 123 45 67 😀", "letters"),
    ("тел. 8 916 123 45 67", "letters"),
])
def test_garbage_is_refused_with_a_clear_message(raw, why):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize(raw)
    message = str(info.value)
    assert why in message
    assert "\n" not in message and len(message) < 160


def test_only_strict_e164_passes_is_e164():
    assert is_e164("+79161234567")
    for bad in ["79161234567", "+7916", "+0916123456", "+79161234567 ", "+7916123456x", None, 7916]:
        assert not is_e164(bad)


@pytest.mark.parametrize("raw,expected", [
    ("79161234567", "+79161234567"),
    ("89161234567", "+79161234567"),
    ("+79161234567", "+79161234567"),
    ("9161234567", "+79161234567"),
    ("anonymous", None), ("Anonymous", None), ("", None), (None, None), ("unknown", None),
    ("asterisk", None), ("&,|;", None), ("${SHELL}", None), ("1" * 500, None), ("'; DROP", None),
])
def test_caller_ids_from_asterisk_never_raise(raw, expected):
    result = normalize_caller_id(raw)
    assert (result.e164 if result else None) == expected


def test_display_is_national_at_home_and_international_abroad():
    assert format_display("+79161234567") == "8 (916) 123-45-67"
    assert format_display("+442079460958") == "+44 20 7946 0958"
