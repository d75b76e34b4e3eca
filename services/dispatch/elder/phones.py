"""Phone numbers as the telephony system, care-record and SIM cards write them, made comparable.

Only mainland China numbering is known here, because that is where the line runs: a caller id
of +86 138 0013 8000, 0086-13800138000 and 13800138000 are one phone, and so are
+86 25 8888 1234 and 025-8888-1234 (a landline's trunk 0 comes back once the country code goes).
"""

from __future__ import annotations

from enum import StrEnum


class PhoneKind(StrEnum):
    """Whose number a phone number is, in the order a call is matched: the device's SIM first."""

    SIM = "sim"
    ELDER = "elder"
    CONTACT = "contact"


MATCH_ORDER = (PhoneKind.SIM, PhoneKind.ELDER, PhoneKind.CONTACT)

_MIN_DIGITS = 3  # 110, 120, 12349: short service numbers are numbers too


def normalize_phone(raw: str) -> str | None:
    """The digits that identify the phone, or None for something that is no phone number."""
    text = raw.strip()
    if not text:
        return None
    plus = text.startswith("+")
    digits = "".join(ch for ch in text if ch.isdigit())
    if any(not (ch.isdigit() or ch in " -().") for ch in text.removeprefix("+")):
        return None
    if len(digits) < _MIN_DIGITS or len(digits) > 20:
        return None
    national: str | None = None
    if plus and digits.startswith("86"):
        national = digits[2:]
    elif digits.startswith("0086"):
        national = digits[4:]
    elif digits.startswith("86") and len(digits) == 13 and digits[2] == "1":
        national = digits[2:]  # a mobile number with the country code but no "+"
    if national is None:
        return digits
    # Mobiles (1xx, 11 digits) have no trunk prefix; landlines dial 0 before the area code at home.
    if len(national) == 11 and national.startswith("1"):
        return national
    return national if national.startswith("0") else "0" + national
