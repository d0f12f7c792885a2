"""Phone numbers: everything stored and dialled is E.164 (``+79161234567``).

Parsing is the ``phonenumbers`` library's; this module adds what Russian sales documents
and Asterisk throw at it: trunk-style ``8 916 ...`` and ``7916...`` numbers, Russian
extension markers (``доб. 12``, ``вн. 123``), seven-digit local numbers that need an area
code, and caller ids such as ``anonymous``. Characters that mean something in a dial
string or the dialplan (``&`` ``,`` ``|`` ``;`` ``$`` ``{}``, quotes, line breaks) are
refused, never stripped: a number that carried them is not a number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

# The one E.164 pattern (models, config and dial strings use it). ``\Z``, not ``$``: ``$``
# also matches before a final line break, which must never reach a dial string.
E164 = re.compile(r"^\+[1-9][0-9]{6,14}\Z")
MAX_INPUT = 64
_DANGEROUS = set("&,|;$'\"`{}\\<>!")
# Extension markers, Russian first: "доб. 123", "доб 123", "вн. 12", "внутр. 12", "д. 12",
# then the international ones phonenumbers also knows ("ext. 45", "x45", "#45").
_EXT = re.compile(
    r"(?:\s*,?\s*(?:доб(?:авочный)?|вн(?:утр(?:енний)?)?|д|ext(?:ension)?|x)\.?\s*|\s*#\s*)"
    r"(?P<ext>[0-9]{1,8})\s*$",
    re.IGNORECASE,
)
_ALLOWED = re.compile(r"^\+?[0-9 ()\-.]+$")
# Unicode category C among ASCII characters: the fast check for the usual, ASCII input.
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidPhoneNumber(ValueError):
    """``str()`` says, in one line, what was wrong with the input."""


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    ext: str | None = None

    def __str__(self) -> str:
        return self.e164 + (f" ext. {self.ext}" if self.ext else "")


def _show(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


def normalize(raw: str, region: str = "RU", default_area_code: str = "") -> PhoneNumber:
    """Parse ``raw`` into E.164 plus an optional extension, or raise InvalidPhoneNumber."""
    if not isinstance(raw, str):
        raise InvalidPhoneNumber(f"phone number must be text, not {type(raw).__name__}")
    if len(raw) > MAX_INPUT:
        raise InvalidPhoneNumber(f"phone number {_show(raw)} is too long ({len(raw)} characters)")
    # Full-width and other Unicode digits become ASCII digits (NFKC); everything else that is
    # not plain ASCII stays and is refused below.
    text = unicodedata.normalize("NFKC", raw).strip()
    if (_ASCII_CONTROL.search(text) if text.isascii()
            else any(unicodedata.category(c).startswith("C") for c in text)):
        raise InvalidPhoneNumber(f"phone number {_show(raw)} contains control characters")
    if not text:
        raise InvalidPhoneNumber("phone number is empty")

    # The extension first: documents write "8 495 1234567, доб. 12", and that comma is the
    # only place one is accepted.
    ext = None
    match = _EXT.search(text)
    if match and match.start() > 0:
        ext = match.group("ext")
        text = text[: match.start()].strip()
    if _DANGEROUS & set(text):
        raise InvalidPhoneNumber(f"phone number {_show(raw)} contains characters that are not "
                                 "allowed in a phone number")
    if not _ALLOWED.match(text):
        raise InvalidPhoneNumber(f"phone number {_show(raw)} contains letters or symbols")

    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("00"):
        text, digits = "+" + digits[2:], digits[2:]
    if len(digits) < 7:
        raise InvalidPhoneNumber(f"phone number {_show(raw)} is too short")
    if len(digits) > 15:
        raise InvalidPhoneNumber(f"phone number {_show(raw)} is too long")

    region = region.upper()
    candidate = text
    if not text.startswith("+"):
        if region == "RU" and len(digits) == 11 and digits[0] in "78":
            # Trunk prefix 8 and the country code 7 written without "+".
            candidate = "+7" + digits[1:]
        elif len(digits) == 7:
            if not default_area_code:
                raise InvalidPhoneNumber(f"phone number {_show(raw)} has no area code "
                                         "(7 digits; set general.default_area_code)")
            candidate = default_area_code + digits
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as e:
        raise InvalidPhoneNumber(f"phone number {_show(raw)} cannot be parsed: {e._msg}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"phone number {_show(raw)} is not a valid number"
                                 f"{' for ' + region if not candidate.startswith('+') else ''}")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if parsed.extension and not ext:
        ext = parsed.extension
    if not E164.match(e164):  # defence in depth: never hand out anything else
        raise InvalidPhoneNumber(f"phone number {_show(raw)} did not normalise to E.164")
    return PhoneNumber(e164, ext)


def is_e164(value: object) -> bool:
    """Strict check used before a stored number goes anywhere near a dial string."""
    return isinstance(value, str) and bool(E164.match(value))


def format_display(e164: str, region: str = "RU") -> str:
    """``+79161234567`` -> ``8 (916) 123-45-67`` at home, international form abroad."""
    parsed = phonenumbers.parse(e164, None)
    if phonenumbers.region_code_for_number(parsed) == region.upper():
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


_ANONYMOUS = {"", "anonymous", "unknown", "unavailable", "restricted", "private", "asterisk",
              "s", "withheld"}


def normalize_caller_id(raw: str | None, region: str = "RU") -> PhoneNumber | None:
    """A caller id from Asterisk, or None when it is absent, withheld or not a number.

    This runs in the call path, so it never raises.
    """
    if raw is None:
        return None
    try:
        text = str(raw).strip()
        if text.lower() in _ANONYMOUS:
            return None
        number = normalize(text, region)
    except (InvalidPhoneNumber, ValueError, TypeError):
        return None
    return number if is_e164(number.e164) else None
