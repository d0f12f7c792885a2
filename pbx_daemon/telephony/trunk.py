"""How numbers go out through the provider's trunk: the PJSIP endpoint the dial string
names, and the number formats the provider wants (``[trunk]`` in the config).

Numbers inside pbx-crm are E.164 (``+74951234567``). Providers differ in what they accept
in the Request-URI and in the caller id (From / P-Asserted-Identity): E.164, the national
form with the trunk prefix (``84951234567``, phonenumbers' national format, digits only)
or bare digits with the country code (``74951234567``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from pbx_daemon.crm.phones import is_e164
from pbx_daemon.telephony.names import ENDPOINT_NAME

FORMATS = ("e164", "national", "digits")


def format_number(e164: str, fmt: str) -> str:
    """``+74951234567`` as ``fmt`` wants it; a number phonenumbers cannot read keeps its
    E.164 digits (never anything but ``+`` and digits)."""
    if fmt not in FORMATS:
        raise ValueError(f"number format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not is_e164(e164):
        raise ValueError(f"{e164!r} is not an E.164 number")
    if fmt == "e164":
        return e164
    if fmt == "digits":
        return e164[1:]
    try:
        parsed = phonenumbers.parse(e164)
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return e164[1:]
    digits = "".join(c for c in national if c.isdigit())
    return digits or e164[1:]


@dataclass(frozen=True)
class TrunkDialing:
    """The trunk as the daemon dials through it."""

    endpoint: str = "pbxcrm-trunk"
    dial_format: str = "e164"
    caller_id_format: str = "e164"

    def __post_init__(self) -> None:
        if not ENDPOINT_NAME.match(self.endpoint):
            raise ValueError(f"trunk endpoint {self.endpoint!r} is not a PJSIP endpoint name")
        for fmt in (self.dial_format, self.caller_id_format):
            if fmt not in FORMATS:
                raise ValueError(f"number format {fmt!r}: use one of {', '.join(FORMATS)}")

    @classmethod
    def from_config(cls, config) -> "TrunkDialing":
        t = config.trunk
        return cls(endpoint=t.endpoint, dial_format=t.dial_format,
                   caller_id_format=t.caller_id_format)

    def dial_string(self, e164: str) -> str:
        """``PJSIP/<number>@<trunk>`` for an E.164 number (ValueError for anything else)."""
        return f"PJSIP/{format_number(e164, self.dial_format)}@{self.endpoint}"

    def caller_id(self, e164: str) -> str:
        return format_number(e164, self.caller_id_format)
